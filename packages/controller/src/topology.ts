import { EventEmitter } from 'node:events';
import type { Logger, NodeView, Topology } from '@switchboard/runtime';
import type { Probes } from './probes.js';
import type {
  ControllerStore,
  LeaderRecord,
  LeaseRecord,
  NodeRecord,
  RegistrySnapshot,
} from './store.js';

/** A node as the API and the topology show it: its record, with a status from its lease. */
export function nodeView(node: NodeRecord, lease: LeaseRecord | undefined): NodeView {
  return {
    ...node,
    status: lease === undefined ? 'down' : node.drained ? 'draining' : 'up',
  };
}

/** The topology the leader would publish now, without its version. */
export function buildTopology(
  snapshot: RegistrySnapshot,
  probes: Probes,
  leader: LeaderRecord,
  now: number,
): Omit<Topology, 'version'> {
  return {
    updatedAt: new Date(now).toISOString(),
    leader: { nodeId: leader.nodeId, fence: leader.fence },
    nodes: snapshot.nodes.map(({ node, lease }) => nodeView(node, lease)),
    sql: {
      primary: probes.sql.primary === null ? null : endpointOf(probes.sql.primary),
      replicas: probes.sql.replicas.map(endpointOf),
    },
    kv: {
      state: probes.kv.state,
      groups: probes.kv.groups.map((g) => ({
        id: g.id,
        primary: g.primary,
        replicas: [...g.replicas],
        slots: g.slots,
      })),
    },
    bus: { endpoints: probes.bus },
    search: { endpoints: probes.search },
  };
}

function endpointOf(probe: { address: string; healthy: boolean; reason?: string }) {
  return {
    address: probe.address,
    healthy: probe.healthy,
    ...(probe.reason === undefined ? {} : { reason: probe.reason }),
  };
}

/**
 * Whether two topologies differ in anything a router acts on. The version, the time and the
 * reason text of an unhealthy replica (its lag figure changes every round) are left out, so the
 * version moves only when something a router or an edge must apply changed.
 */
export function sameTopology(a: Omit<Topology, 'version'>, b: Omit<Topology, 'version'>): boolean {
  return fingerprint(a) === fingerprint(b);
}

function fingerprint(t: Omit<Topology, 'version'>): string {
  const strip = (e: { address: string; healthy: boolean } | null) =>
    e === null ? null : [e.address, e.healthy];
  return JSON.stringify([
    t.leader,
    t.nodes,
    strip(t.sql.primary),
    t.sql.replicas.map(strip),
    t.kv,
    t.bus,
    t.search,
  ]);
}

export interface TopologyFeedEvents {
  change: [Topology];
}

/**
 * Each controller's copy of the topology. It polls the version number in kv (a few bytes) every
 * `pollMs` and reads the document only when the number moved, so followers serve a new version
 * to their long-poll and stream clients within one poll of the leader writing it; the leader
 * hands its own writes in directly with `offer`.
 */
export class TopologyFeed extends EventEmitter<TopologyFeedEvents> {
  private currentTopology: Topology | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly store: ControllerStore,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get current(): Topology | undefined {
    return this.currentTopology;
  }

  get version(): number {
    return this.currentTopology?.version ?? 0;
  }

  /** Takes a newer document (the leader's own write, or a poll's read); ignores older ones. */
  offer(topology: Topology): void {
    if (topology.version <= this.version) return;
    this.currentTopology = topology;
    this.emit('change', topology);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.poll();
    this.schedule();
  }

  close(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    return this.polling ?? Promise.resolve();
  }

  /**
   * Resolves with the topology as soon as its version is above `since` (at once if it already
   * is), or with undefined after `waitMs` or when `signal` aborts.
   */
  waitNewer(since: number, waitMs: number, signal?: AbortSignal): Promise<Topology | undefined> {
    const current = this.currentTopology;
    if (current !== undefined && current.version > since) return Promise.resolve(current);
    if (waitMs <= 0 || signal?.aborted === true) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const finish = (value: Topology | undefined): void => {
        clearTimeout(timer);
        this.off('change', onChange);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onChange = (topology: Topology): void => {
        if (topology.version > since) finish(topology);
      };
      const onAbort = (): void => {
        finish(undefined);
      };
      const timer = setTimeout(() => {
        finish(undefined);
      }, waitMs);
      this.on('change', onChange);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => {
        this.schedule();
      });
    }, this.pollMs);
    this.timer.unref();
  }

  private poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const version = await this.store.readTopologyVersion();
        if (version > this.version) {
          const record = await this.store.readTopology();
          if (record !== undefined) this.offer(record.topology);
        }
        if (this.failing) this.logger.info('topology feed: kv answers again');
        this.failing = false;
      } catch (error) {
        if (!this.failing) {
          this.logger.warn({ err: error }, 'topology feed: cannot read the topology from kv');
        }
        this.failing = true;
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }
}
