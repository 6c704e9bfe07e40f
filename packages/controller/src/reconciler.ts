import type { Clock, Logger, NodeStatus, Topology } from '@switchboard/runtime';
import { FencedError } from './errors.js';
import type { LeaderElection } from './leader.js';
import { runProbes, type ProbeOptions, type Probes } from './probes.js';
import type { ControllerStore, LeaseRecord, RegistrySnapshot } from './store.js';
import { buildTopology, sameTopology, type TopologyFeed } from './topology.js';

/** Events the leader publishes on the bus; the daemon maps them to the bus's catalogue. */
export interface ControllerEvents {
  'topology.changed': { version: number; topology: Topology };
  'node.up': {
    nodeId: string;
    roles: string[];
    address: string;
    availabilityGroup?: string;
    version?: string;
  };
  'node.down': { nodeId: string; reason: 'lease-expired' | 'drained' | 'deregistered' };
}

export type EventSink = <N extends keyof ControllerEvents>(
  name: N,
  payload: ControllerEvents[N],
) => Promise<void>;

/** The leader's view after a round, served at `GET /v1/status`. */
export interface ControllerStatus {
  readonly at: string;
  readonly leader: { readonly nodeId: string; readonly fence: number };
  readonly topologyVersion: number;
  readonly probes: Probes;
  /** Per node: when it last beat and what load it reported. */
  readonly leases: Readonly<Record<string, LeaseRecord>>;
  readonly roundMs: number;
}

export interface ReconcilerOptions {
  readonly store: ControllerStore;
  readonly election: LeaderElection;
  readonly feed: TopologyFeed;
  readonly probes: ProbeOptions;
  readonly maxLagMs: number;
  readonly intervalMs: number;
  readonly publish: EventSink;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The leader's loop: read the registry and the leases, probe the servers, and write a new
 * topology version when anything a router acts on changed — fenced, so a deposed leader's late
 * round writes nothing — then publish `topology.changed` and a `node.up`/`node.down` per node
 * whose status changed. Followers run nothing here; they only serve what the leader wrote.
 */
export class Reconciler {
  private readonly options: ReconcilerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private lastStatus: ControllerStatus | undefined;

  constructor(options: ReconcilerOptions) {
    this.options = options;
  }

  get status(): ControllerStatus | undefined {
    return this.lastStatus;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  /** One round now, if this controller leads (tests call it to avoid waiting). */
  round(): Promise<void> {
    this.running ??= this.reconcile().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round().finally(() => {
        this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async reconcile(): Promise<void> {
    const { store, election, feed, clock, logger } = this.options;
    const lease = election.lease;
    if (lease === undefined) return;
    const started = clock.now();
    try {
      const [snapshot, probes] = await Promise.all([
        store.snapshot(),
        runProbes(this.options.probes, this.options.maxLagMs),
      ]);
      // The lease may have been lost while probing: check before acting.
      if (election.lease?.fence !== lease.fence) return;
      const now = clock.now();
      const proposed = buildTopology(snapshot, probes, lease, now);
      let previous: Topology | undefined;
      const written = await store.writeTopology(lease.fence, (current) => {
        previous = current?.topology;
        if (previous !== undefined && sameTopology(previous, proposed)) return undefined;
        return { ...proposed, version: (previous?.version ?? 0) + 1 };
      });
      if (written !== undefined) {
        feed.offer(written);
        logger.info({ version: written.version, fence: lease.fence }, 'topology changed');
        // Not awaited: while the broker is away publishes wait in the bus buffer, and the
        // round must not wait with them.
        void this.announce(previous, written, snapshot);
      } else if (previous !== undefined) {
        feed.offer(previous);
      }
      const status: ControllerStatus = {
        at: new Date(now).toISOString(),
        leader: { nodeId: lease.nodeId, fence: lease.fence },
        topologyVersion: written?.version ?? previous?.version ?? 0,
        probes,
        leases: Object.fromEntries(
          snapshot.nodes.flatMap(({ node, lease: l }) => (l === undefined ? [] : [[node.id, l]])),
        ),
        roundMs: clock.now() - started,
      };
      this.lastStatus = status;
      await store.writeStatus(status, Math.max(5000, this.options.intervalMs * 5));
    } catch (error) {
      if (error instanceof FencedError) {
        election.stepDown(error.message);
        return;
      }
      logger.warn({ err: error }, 'reconcile round failed');
    }
  }

  /** Events for a new version: the topology itself, and each node whose status changed. */
  private async announce(
    previous: Topology | undefined,
    next: Topology,
    snapshot: RegistrySnapshot,
  ): Promise<void> {
    const { publish, logger } = this.options;
    const before = new Map<string, NodeStatus>(previous?.nodes.map((n) => [n.id, n.status]));
    const sends: Promise<void>[] = [
      publish('topology.changed', { version: next.version, topology: next }),
    ];
    for (const node of next.nodes) {
      const was = before.get(node.id);
      if (was === node.status) continue;
      if (node.status === 'up' && was !== 'draining') {
        sends.push(
          publish('node.up', {
            nodeId: node.id,
            roles: [...node.roles],
            address: node.address,
            ...(node.ag === undefined ? {} : { availabilityGroup: node.ag }),
            version: node.version,
          }),
        );
      } else if (node.status === 'down' && was !== undefined) {
        sends.push(
          publish('node.down', {
            nodeId: node.id,
            reason: was === 'draining' ? 'drained' : 'lease-expired',
          }),
        );
      }
    }
    const known = new Set(snapshot.nodes.map((n) => n.node.id));
    for (const id of before.keys()) {
      if (!known.has(id)) sends.push(publish('node.down', { nodeId: id, reason: 'deregistered' }));
    }
    const results = await Promise.allSettled(sends);
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length > 0) {
      logger.warn(
        { err: (failed[0] as PromiseRejectedResult).reason, failed: failed.length },
        'could not publish topology events on the bus',
      );
    }
  }
}
