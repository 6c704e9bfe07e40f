// The PBX nodes an edge may route calls to: the controller's topology says which exist, OPTIONS
// probes say which answer, and a count of the calls this edge has on each says which is least
// loaded. The probe itself is injected (the drachtio adapter sends the OPTIONS with srf.request),
// so this module has no I/O of its own and tests drive it by hand.
import type { Logger, Topology } from '@switchboard/runtime';
import type { PbxNode } from './contracts.js';
import { positiveIntegerOption } from './errors.js';

export interface PbxPoolOptions {
  /** One OPTIONS ping: resolves true when the node answered (any final response), false or rejects otherwise. */
  readonly probe: (node: PbxNode) => Promise<boolean>;
  /** Between the end of one probe round and the start of the next; default 5000. */
  readonly probeIntervalMs?: number;
  /** A probe not settled by then counts as failed; default 2000. */
  readonly probeTimeoutMs?: number;
  /** Consecutive failed probes that take a node out of the candidates; default 2. */
  readonly failuresToDown?: number;
  readonly logger: Logger;
}

export interface PbxNodeState {
  readonly id: string;
  readonly address: string;
  readonly healthy: boolean;
  readonly consecutiveFailures: number;
  readonly activeCalls: number;
}

export interface PbxPool {
  /**
   * Replaces the set of nodes (see `pbxNodesFromTopology`). A node that stays keeps its probe
   * state; a new node is routable at once, optimistically healthy until probes say otherwise.
   */
  setNodes(nodes: readonly PbxNode[]): void;
  /** Healthy nodes, fewest active calls first; ties rotate from one call to the next. */
  candidates(): PbxNode[];
  /** A call attempt was sent to `nodeId` (it counts as load from then on). */
  callStarted(nodeId: string): void;
  /** A call attempt on `nodeId` failed or the call ended. */
  callEnded(nodeId: string): void;
  activeCalls(nodeId: string): number;
  /** Every known node with its probe state and load, for the ops endpoint and tests. */
  nodes(): PbxNodeState[];
  /** Runs one probe round now (the timer runs them every `probeIntervalMs` once started). */
  probeNow(): Promise<void>;
  /** Starts periodic probing, beginning with a round at once. Idempotent. */
  start(): void;
  /** Stops probing and waits for a round in flight. Idempotent. */
  close(): Promise<void>;
}

interface NodeEntry {
  node: PbxNode;
  healthy: boolean;
  failures: number;
}

/**
 * The PBX nodes of a topology a call may go to: role `pbx`, status `up` and not drained. A
 * draining node finishes its calls but takes no new ones; a down node is gone.
 */
export function pbxNodesFromTopology(topology: Pick<Topology, 'nodes'>): PbxNode[] {
  return topology.nodes
    .filter((node) => node.roles.includes('pbx') && node.status === 'up' && !node.drained)
    .map((node) => ({ id: node.id, address: node.address }));
}

export function createPbxPool(options: PbxPoolOptions): PbxPool {
  const probeIntervalMs = positiveIntegerOption('probeIntervalMs', options.probeIntervalMs ?? 5000);
  const probeTimeoutMs = positiveIntegerOption('probeTimeoutMs', options.probeTimeoutMs ?? 2000);
  const failuresToDown = positiveIntegerOption('failuresToDown', options.failuresToDown ?? 2);
  const { probe } = options;
  const logger = options.logger.child({ component: 'pbx-pool' });

  // Insertion order is topology order: the stable order ties are rotated over.
  let entries = new Map<string, NodeEntry>();
  // Kept apart from entries: a node that leaves the topology may still carry calls that end later.
  const load = new Map<string, number>();
  let rotation = 0;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let started = false;
  let closed = false;

  function activeCalls(nodeId: string): number {
    return load.get(nodeId) ?? 0;
  }

  async function probeOne(entry: NodeEntry): Promise<void> {
    let ok: boolean;
    let timeout: NodeJS.Timeout | undefined;
    try {
      ok = await Promise.race([
        probe(entry.node),
        new Promise<boolean>((resolve) => {
          timeout = setTimeout(() => {
            resolve(false);
          }, probeTimeoutMs);
        }),
      ]);
    } catch (err) {
      logger.debug({ err, nodeId: entry.node.id }, 'pbx probe failed');
      ok = false;
    } finally {
      clearTimeout(timeout);
    }
    // The node may have left the topology (or been replaced) while the probe ran.
    if (entries.get(entry.node.id) !== entry) return;
    if (ok) {
      if (!entry.healthy) logger.info({ nodeId: entry.node.id }, 'pbx node answers probes again');
      entry.healthy = true;
      entry.failures = 0;
      return;
    }
    entry.failures += 1;
    if (entry.healthy && entry.failures >= failuresToDown) {
      entry.healthy = false;
      logger.warn(
        { nodeId: entry.node.id, address: entry.node.address, failures: entry.failures },
        'pbx node stopped answering probes; no new calls go to it',
      );
    }
  }

  function probeNow(): Promise<void> {
    // One round at a time: a slow round is not overlapped by the next.
    round ??= Promise.all([...entries.values()].map((entry) => probeOne(entry))).then(() => {
      round = undefined;
    });
    return round;
  }

  function schedule(): void {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void probeNow().then(schedule);
    }, probeIntervalMs);
    timer.unref();
  }

  return {
    setNodes(nodes) {
      const next = new Map<string, NodeEntry>();
      for (const node of nodes) {
        const previous = entries.get(node.id);
        if (previous !== undefined && previous.node.address === node.address) {
          next.set(node.id, previous);
        } else {
          if (previous === undefined)
            logger.info({ nodeId: node.id, address: node.address }, 'pbx node joined');
          next.set(node.id, {
            node: { id: node.id, address: node.address },
            healthy: true,
            failures: 0,
          });
        }
      }
      for (const id of entries.keys()) {
        if (!next.has(id)) logger.info({ nodeId: id }, 'pbx node left');
      }
      entries = next;
    },

    candidates() {
      const healthy = [...entries.values()].filter((entry) => entry.healthy);
      const count = healthy.length;
      if (count === 0) return [];
      const offset = rotation++ % count;
      rotation %= Number.MAX_SAFE_INTEGER;
      return healthy
        .map((entry, index) => ({ entry, order: (index - offset + count) % count }))
        .sort(
          (a, b) =>
            activeCalls(a.entry.node.id) - activeCalls(b.entry.node.id) || a.order - b.order,
        )
        .map(({ entry }) => entry.node);
    },

    callStarted(nodeId) {
      load.set(nodeId, activeCalls(nodeId) + 1);
    },

    callEnded(nodeId) {
      const now = activeCalls(nodeId) - 1;
      if (now > 0) load.set(nodeId, now);
      else load.delete(nodeId);
    },

    activeCalls,

    nodes() {
      return [...entries.values()].map((entry) => ({
        id: entry.node.id,
        address: entry.node.address,
        healthy: entry.healthy,
        consecutiveFailures: entry.failures,
        activeCalls: activeCalls(entry.node.id),
      }));
    },

    probeNow,

    start() {
      if (started || closed) return;
      started = true;
      void probeNow().then(schedule);
    },

    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await round;
    },
  };
}
