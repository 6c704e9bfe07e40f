import type { NodeLoad, NodeRegistration, Topology } from '@switchboard/runtime';
import type { Kv, KvCounters, KvNamespace, KvRecords, KvSets } from '@switchboard/storage';
import { ControllerErrorCode, ControllerError, FencedError, notFound } from './errors.js';
import type { PlanRecord } from './plans.js';

/** A registered node as stored: what it sent, plus what the controller decides about it. */
export interface NodeRecord extends NodeRegistration {
  readonly registeredAt: string;
  /** An operator drained it: it takes no new work until resumed. */
  readonly drained: boolean;
}

/** A node's lease: present while its heartbeats arrive, gone (TTL) when they stop. */
export interface LeaseRecord {
  /** When the last heartbeat arrived, epoch ms. */
  readonly at: number;
  readonly load?: NodeLoad;
}

export interface LeaderRecord {
  readonly nodeId: string;
  /** Grows with every election: writes carry it and the store refuses an older one. */
  readonly fence: number;
  /** The leader's API, for followers to point clients at. */
  readonly url: string;
  readonly since: number;
  readonly renewedAt: number;
}

export interface TopologyRecord {
  /** The fence of the leader that wrote this version. */
  readonly fence: number;
  readonly topology: Topology;
}

/** A snapshot of the registry: every node with its lease, if it has one. */
export interface RegistrySnapshot {
  readonly nodes: readonly { readonly node: NodeRecord; readonly lease: LeaseRecord | undefined }[];
}

const ALL = 'all';

/**
 * The controller's state in the kv store, all in one colocated namespace (one hash slot), so a
 * snapshot is one MGET per collection and a fenced write can compare-and-set several keys at
 * once. Small by design: a node record is a few hundred bytes, a lease a few dozen.
 */
export class ControllerStore {
  readonly namespace: KvNamespace;
  private readonly nodes: KvRecords<NodeRecord>;
  private readonly leases: KvRecords<LeaseRecord>;
  private readonly ids: KvSets;
  private readonly fences: KvCounters;
  private readonly leader: KvRecords<LeaderRecord>;
  private readonly state: KvRecords<unknown>;
  readonly plans: KvRecords<PlanRecord>;
  private readonly leaseTtlMs: number;
  private pendingLeases: {
    readonly id: string;
    readonly lease: LeaseRecord;
    readonly resolve: () => void;
    readonly reject: (error: unknown) => void;
  }[] = [];

  constructor(kv: Kv, options: { readonly namespace: string; readonly leaseTtlMs: number }) {
    this.namespace = kv.namespace(options.namespace, { colocate: true });
    this.leaseTtlMs = options.leaseTtlMs;
    this.nodes = this.namespace.records<NodeRecord>('node');
    this.leases = this.namespace.records<LeaseRecord>('lease', { ttlMs: options.leaseTtlMs });
    this.ids = this.namespace.sets('ids');
    this.fences = this.namespace.counters('fence');
    this.leader = this.namespace.records<LeaderRecord>('leader');
    this.state = this.namespace.records('state');
    // Plans are kept 30 days after their last change.
    this.plans = this.namespace.records<PlanRecord>('plan', { ttlMs: 30 * 24 * 3600_000 });
  }

  // ---- registry --------------------------------------------------------------------------------

  /** Adds or updates a node (keeping its drain flag and first registration time) and leases it. */
  async register(registration: NodeRegistration, now: number): Promise<NodeRecord> {
    const record = await this.nodes.update(registration.id, (current) => ({
      ...registration,
      registeredAt: current?.registeredAt ?? new Date(now).toISOString(),
      drained: current?.drained ?? false,
    }));
    await Promise.all([
      this.ids.add(ALL, registration.id),
      this.leases.set(registration.id, { at: now }),
    ]);
    if (record === undefined) throw new Error('unreachable: update returned no record');
    return record;
  }

  getNode(id: string): Promise<NodeRecord | undefined> {
    return this.nodes.get(id);
  }

  /** A node's lease, undefined once it expired. */
  getLease(id: string): Promise<LeaseRecord | undefined> {
    return this.leases.get(id);
  }

  /**
   * Renews a node's lease. Heartbeats that arrive in the same turn of the event loop are written
   * together, one MULTI of `SET … PX` (every lease shares the namespace's hash slot, so it is one
   * round trip to one node); each caller's promise settles when its batch is stored. Under load
   * this turns a Redis write per heartbeat into one per batch, and adds no delay when idle.
   */
  heartbeat(id: string, now: number, load: NodeLoad | undefined): Promise<void> {
    const lease: LeaseRecord = load === undefined ? { at: now } : { at: now, load };
    return new Promise((resolve, reject) => {
      this.pendingLeases.push({ id, lease, resolve, reject });
      if (this.pendingLeases.length === 1) setImmediate(() => void this.flushLeases());
    });
  }

  private async flushLeases(): Promise<void> {
    const batch = this.pendingLeases;
    this.pendingLeases = [];
    try {
      if (batch.length === 1 && batch[0] !== undefined) {
        await this.leases.set(batch[0].id, batch[0].lease);
      } else {
        await this.leases.mset(batch.map((b) => [b.id, b.lease] as const));
      }
      for (const b of batch) b.resolve();
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }

  /** Ends a node's lease now: a graceful leave shows it down at once. */
  async leave(id: string): Promise<void> {
    await this.leases.delete(id);
  }

  async setDrained(id: string, drained: boolean): Promise<NodeRecord> {
    // Absent stays absent (update writes nothing for undefined): then the node is unknown.
    const record = await this.nodes.update(id, (current) =>
      current === undefined ? undefined : { ...current, drained },
    );
    if (record === undefined) throw notFound('node', id);
    return record;
  }

  /** Removes a node from the registry for good (its lease too). */
  async forget(id: string): Promise<boolean> {
    const [existed] = await Promise.all([
      this.nodes.delete(id),
      this.leases.delete(id),
      this.ids.remove(ALL, id),
    ]);
    return existed;
  }

  /** Every node record, without leases: what each controller caches for heartbeats. */
  async nodeRecords(): Promise<NodeRecord[]> {
    const ids = await this.ids.members(ALL);
    if (ids.length === 0) return [];
    return (await this.nodes.mget(ids)).filter((n): n is NodeRecord => n !== undefined);
  }

  async snapshot(): Promise<RegistrySnapshot> {
    const ids = (await this.ids.members(ALL)).sort();
    if (ids.length === 0) return { nodes: [] };
    const [nodes, leases] = await Promise.all([this.nodes.mget(ids), this.leases.mget(ids)]);
    const out: { node: NodeRecord; lease: LeaseRecord | undefined }[] = [];
    nodes.forEach((node, i) => {
      if (node !== undefined) out.push({ node, lease: leases[i] });
    });
    return { nodes: out };
  }

  get nodeLeaseTtlMs(): number {
    return this.leaseTtlMs;
  }

  // ---- leadership ------------------------------------------------------------------------------

  readLeader(): Promise<LeaderRecord | undefined> {
    return this.leader.get(ALL);
  }

  /**
   * Takes the leader lease if nobody holds it. The fence is drawn first, so every attempt gets a
   * token larger than any before it; a lost race only wastes a number.
   */
  async acquireLeader(
    nodeId: string,
    url: string,
    ttlMs: number,
    now: number,
  ): Promise<LeaderRecord | undefined> {
    if ((await this.leader.get(ALL)) !== undefined) return undefined;
    const fence = await this.fences.incr(ALL);
    const record: LeaderRecord = { nodeId, fence, url, since: now, renewedAt: now };
    return (await this.leader.setIfAbsent(ALL, record, { ttlMs })) ? record : undefined;
  }

  /** Extends the lease if it is still exactly ours; undefined when it was lost. */
  async renewLeader(
    current: LeaderRecord,
    ttlMs: number,
    now: number,
  ): Promise<LeaderRecord | undefined> {
    const next: LeaderRecord = { ...current, renewedAt: now };
    return (await this.leader.compareAndSet(ALL, current, next, { ttlMs })) ? next : undefined;
  }

  async releaseLeader(current: LeaderRecord): Promise<void> {
    await this.leader.compareAndSet(ALL, current, undefined);
  }

  // ---- topology --------------------------------------------------------------------------------

  async readTopologyVersion(): Promise<number> {
    const version = await this.state.get('topology-version');
    return typeof version === 'number' ? version : 0;
  }

  async readTopology(): Promise<TopologyRecord | undefined> {
    return (await this.state.get('topology')) as TopologyRecord | undefined;
  }

  /**
   * Writes the next topology version, checked against the fence of whoever wrote the current
   * one: a deposed leader that wakes up late gets `SWB_CTL_FENCED` and writes nothing. `next`
   * sees the stored version and returns the document to store, or undefined to write nothing.
   * The document and its version number change together (one compare-and-set of both keys).
   */
  async writeTopology(
    fence: number,
    next: (current: TopologyRecord | undefined) => Topology | undefined,
  ): Promise<Topology | undefined> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const [stored, leader] = await Promise.all([this.readTopology(), this.readLeader()]);
      // Both checks: the stored version's writer, and a newer leader that has not written yet.
      if (leader !== undefined && leader.fence > fence) {
        throw new FencedError('topology write', fence, leader.fence);
      }
      if (stored !== undefined && stored.fence > fence) {
        throw new FencedError('topology write', fence, stored.fence);
      }
      const topology = next(stored);
      if (topology === undefined) return undefined;
      const record: TopologyRecord = { fence, topology };
      const written = await this.state.compareAndSetMany([
        { key: 'topology', expected: stored, next: record },
        {
          key: 'topology-version',
          expected: stored === undefined ? undefined : stored.topology.version,
          next: topology.version,
        },
      ]);
      if (written) return topology;
    }
    throw new ControllerError(
      ControllerErrorCode.Unavailable,
      'topology write: lost the compare-and-set eight times in a row',
    );
  }

  /** The leader's latest probe results; expires if no leader refreshes it. */
  writeStatus(status: unknown, ttlMs: number): Promise<void> {
    return this.state.set('status', status, { ttlMs });
  }

  readStatus(): Promise<unknown> {
    return this.state.get('status');
  }
}
