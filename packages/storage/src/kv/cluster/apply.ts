import { setTimeout as sleep } from 'node:timers/promises';
import { redisErrorText, type NodeConnections } from './connections.js';
import { KvClusterError, KvClusterErrorCode } from './errors.js';
import { readLayout, type AvailabilityGroup, type ClusterLayout } from './layout.js';
import { parseAddress, parseClusterNodes, slotsOf, type ClusterNodeEntry } from './nodes.js';
import type { RebalancePlan } from './plan.js';

export interface ApplyOptions {
  /** Stops between two batches of keys; the slot in flight stays open and the next apply resumes it. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ApplyProgress) => void;
  /** Keys per `MIGRATE`; default 100. */
  readonly batchSize?: number;
  /** `MIGRATE`'s own timeout; default 10 s. */
  readonly migrateTimeoutMs?: number;
  /** Bound on waiting for joins, replica links and slot agreement; default 30 s. */
  readonly settleTimeoutMs?: number;
  /** Credentials `MIGRATE` passes to the receiving node (the admin's own). */
  readonly auth?: { readonly username?: string; readonly password: string };
}

export type ApplyProgress =
  | {
      readonly phase: 'meet';
      readonly node: string;
      readonly id: string;
      readonly skipped: boolean;
    }
  | {
      readonly phase: 'replicate';
      readonly node: string;
      readonly primary: string;
      readonly skipped: boolean;
    }
  | {
      readonly phase: 'migrate';
      readonly slot: number;
      readonly from: string;
      readonly to: string;
      /** Keys this slot carried. */
      readonly keys: number;
      readonly slotsDone: number;
      readonly slotsTotal: number;
      readonly keysMoved: number;
    }
  | { readonly phase: 'forget'; readonly node: string; readonly id: string }
  | { readonly phase: 'settled'; readonly elapsedMs: number };

export interface ApplyResult {
  /** Slots this run moved. */
  readonly slotsMoved: number;
  /** Slots already where the plan wants them (moved by an earlier, interrupted run). */
  readonly slotsAlreadyPlaced: number;
  readonly keysMoved: number;
  readonly nodesAdded: number;
  readonly nodesRemoved: number;
  readonly elapsedMs: number;
  /** The layout once every node agreed on the slots. */
  readonly layout: ClusterLayout;
}

/**
 * Carries out a plan: joins new nodes, attaches replicas, moves slots key batch by key batch,
 * then retires removed nodes. The cluster itself is the journal: every step first checks whether
 * it is already done, so applying the same plan again after an interruption (a crash, an abort,
 * a failover) finishes the work without redoing what was done. Clients keep working throughout;
 * keys of a slot in flight are served through ASK redirections, which ioredis follows.
 */
export async function applyPlan(
  connections: NodeConnections,
  seeds: readonly string[],
  plan: RebalancePlan,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const startedAt = performance.now();
  const run = new PlanRun(connections, seeds, plan, options);
  const nodesAdded = await run.meet();
  await run.replicate();
  const { moved, placed, keys } = await run.migrate();
  await run.settle();
  const nodesRemoved = await run.forget();
  const layout = await readLayout(connections, run.liveSeeds());
  options.onProgress?.({ phase: 'settled', elapsedMs: performance.now() - startedAt });
  return {
    slotsMoved: moved,
    slotsAlreadyPlaced: placed,
    keysMoved: keys,
    nodesAdded,
    nodesRemoved,
    elapsedMs: performance.now() - startedAt,
    layout,
  };
}

class PlanRun {
  readonly #connections: NodeConnections;
  readonly #seeds: readonly string[];
  readonly #plan: RebalancePlan;
  readonly #options: ApplyOptions;
  readonly #settleMs: number;
  readonly #removed: ReadonlySet<string>;

  constructor(
    connections: NodeConnections,
    seeds: readonly string[],
    plan: RebalancePlan,
    options: ApplyOptions,
  ) {
    if ((plan as { version?: unknown }).version !== 1) {
      throw new KvClusterError(KvClusterErrorCode.InvalidTarget, 'not a version 1 rebalance plan');
    }
    this.#connections = connections;
    this.#seeds = seeds;
    this.#plan = plan;
    this.#options = options;
    this.#settleMs = options.settleTimeoutMs ?? 30_000;
    this.#removed = new Set(
      plan.steps.flatMap((step) => (step.kind === 'forget' ? [step.node] : [])),
    );
  }

  /** Seeds plus every node the plan adds, minus those it removes: who to ask for the layout. */
  liveSeeds(): string[] {
    const added = this.#plan.steps.flatMap((s) => (s.kind === 'meet' ? [s.node] : []));
    return [...this.#seeds, ...added].filter((a) => !this.#removed.has(a));
  }

  async #layout(): Promise<ClusterLayout> {
    return readLayout(this.#connections, this.liveSeeds());
  }

  #checkAborted(): void {
    if (this.#options.signal?.aborted === true) {
      throw new KvClusterError(
        KvClusterErrorCode.Aborted,
        'the rebalance was aborted; applying the same plan again resumes it',
        { cause: this.#options.signal.reason },
      );
    }
  }

  async #myId(address: string): Promise<string> {
    return String(await this.#connections.call(address, 'CLUSTER', 'MYID'));
  }

  async #ownView(address: string): Promise<ClusterNodeEntry[]> {
    return parseClusterNodes(String(await this.#connections.call(address, 'CLUSTER', 'NODES')));
  }

  async #waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = performance.now() + this.#settleMs;
    let last: unknown;
    for (;;) {
      this.#checkAborted();
      try {
        if (await check()) return;
      } catch (error) {
        last = error;
      }
      if (performance.now() > deadline) {
        const why = last instanceof Error ? ` (last error: ${last.message})` : '';
        throw new KvClusterError(
          KvClusterErrorCode.Conflict,
          `${what}: not reached within ${this.#settleMs} ms${why}`,
          { cause: last },
        );
      }
      await sleep(100);
    }
  }

  /** Joins every node the plan adds; a node already in the cluster is skipped. */
  async meet(): Promise<number> {
    const nodes = this.#plan.steps.flatMap((s) => (s.kind === 'meet' ? [s.node] : []));
    if (nodes.length === 0) return 0;
    const layout = await this.#layout();
    const introducer = layout.groups.find((g) => !g.primary.failing)?.primary.address;
    if (introducer === undefined) {
      throw new KvClusterError(
        KvClusterErrorCode.Conflict,
        'no healthy primary to introduce new nodes',
      );
    }
    const members = new Set(layout.nodes.filter((n) => !n.handshake).map((n) => n.id));
    let added = 0;
    const ids: string[] = [];
    for (const node of nodes) {
      const id = await this.#myId(node);
      ids.push(id);
      if (members.has(id)) {
        this.#options.onProgress?.({ phase: 'meet', node, id, skipped: true });
        continue;
      }
      await this.#requireEmpty(node);
      const { host, port } = parseAddress(node);
      await this.#connections.call(introducer, 'CLUSTER', 'MEET', host, port);
      added++;
      this.#options.onProgress?.({ phase: 'meet', node, id, skipped: false });
    }
    // Done when every node, old and new, knows every new node past the handshake.
    const everyone = [...layout.nodes.filter((n) => !n.failing).map((n) => n.address), ...nodes];
    await this.#waitUntil(`new nodes ${nodes.join(', ')} known to every node`, async () => {
      for (const address of everyone) {
        const view = await this.#ownView(address);
        for (const id of ids) {
          const entry = view.find((n) => n.id === id);
          if (entry === undefined || entry.handshake) return false;
        }
      }
      return true;
    });
    // A new node serves (and accepts MIGRATE) only once gossip taught it every slot's owner.
    await this.#waitUntil(`new nodes ${nodes.join(', ')} reporting cluster_state:ok`, async () => {
      for (const node of nodes) {
        const text = String(await this.#connections.call(node, 'CLUSTER', 'INFO'));
        if (!text.includes('cluster_state:ok')) return false;
      }
      return true;
    });
    return added;
  }

  async #requireEmpty(node: string): Promise<void> {
    const [info, size] = await this.#connections.pipeline(node, [['CLUSTER', 'INFO'], ['DBSIZE']]);
    if (info instanceof Error) {
      throw new KvClusterError(
        KvClusterErrorCode.NodeNotEmpty,
        `${node} is not a cluster-enabled Redis (${info.message}); start it with cluster-enabled yes`,
      );
    }
    const text = String(info);
    const known = /cluster_known_nodes:(\d+)/.exec(text)?.[1];
    const assigned = /cluster_slots_assigned:(\d+)/.exec(text)?.[1];
    if (known !== '1' || assigned !== '0' || size !== 0) {
      throw new KvClusterError(
        KvClusterErrorCode.NodeNotEmpty,
        `${node} is not an empty node (knows ${known ?? '?'} nodes, ${assigned ?? '?'} slots assigned, ` +
          `${String(size)} keys); only empty nodes can join (CLUSTER RESET HARD on it if it is a leftover)`,
      );
    }
  }

  /** Resolves the group a plan names to its current primary (a failover may have changed it). */
  async #primaryOf(layout: ClusterLayout, groupId: string): Promise<ClusterNodeEntry> {
    const planned = this.#plan.after.find((g) => g.id === groupId);
    let group: AvailabilityGroup | undefined;
    if (groupId.startsWith('new:')) {
      const id = await this.#myId(groupId.slice('new:'.length));
      group = layout.groups.find(
        (g) => g.members.includes(groupId.slice('new:'.length)) || g.id === id,
      );
    } else {
      group =
        layout.groups.find((g) => g.id === groupId) ??
        layout.groups.find((g) => planned?.members.some((m) => g.members.includes(m)) === true);
    }
    const primary = layout.nodes.find((n) => n.id === group?.id);
    if (primary === undefined || primary.failing) {
      throw new KvClusterError(
        KvClusterErrorCode.Conflict,
        `group ${groupId} has no healthy primary in the current layout`,
      );
    }
    return primary;
  }

  /** Points each new replica at its group's current primary; one already following it is skipped. */
  async replicate(): Promise<void> {
    const steps = this.#plan.steps.flatMap((s) => (s.kind === 'replicate' ? [s] : []));
    if (steps.length === 0) return;
    const layout = await this.#layout();
    for (const step of steps) {
      const primary = await this.#primaryOf(layout, step.group);
      const self = (await this.#ownView(step.node)).find((n) => n.myself);
      const skipped = self?.role === 'replica' && self.primaryId === primary.id;
      if (!skipped) {
        await this.#connections.call(step.node, 'CLUSTER', 'REPLICATE', primary.id);
      }
      this.#options.onProgress?.({
        phase: 'replicate',
        node: step.node,
        primary: primary.address,
        skipped,
      });
    }
    // Done when each replica's link is up and every node's view shows it under its primary.
    const followers = await Promise.all(
      steps.map(async (step) => ({
        id: await this.#myId(step.node),
        node: step.node,
        primary: (await this.#primaryOf(layout, step.group)).id,
      })),
    );
    const everyone = (await this.#layout()).nodes.filter((n) => !n.failing).map((n) => n.address);
    await this.#waitUntil('new replicas linked to their primaries', async () => {
      for (const follower of followers) {
        const info = String(await this.#connections.call(follower.node, 'INFO', 'replication'));
        if (!info.includes('master_link_status:up')) return false;
      }
      for (const address of everyone) {
        const view = await this.#ownView(address);
        for (const follower of followers) {
          const entry = view.find((n) => n.id === follower.id);
          if (entry?.role !== 'replica' || entry.primaryId !== follower.primary) return false;
        }
      }
      return true;
    });
  }

  /** Moves every slot not yet in its planned group. */
  async migrate(): Promise<{ moved: number; placed: number; keys: number }> {
    if (this.#plan.moves.length === 0) return { moved: 0, placed: 0, keys: 0 };
    const layout = await this.#layout();
    const ownerOf = new Map<number, AvailabilityGroup>();
    for (const group of layout.groups)
      for (const slot of slotsOf(group.slots)) ownerOf.set(slot, group);
    const work: { slot: number; from: ClusterNodeEntry; to: ClusterNodeEntry }[] = [];
    let placed = 0;
    for (const move of this.#plan.moves) {
      const to = await this.#primaryOf(layout, move.to);
      for (const slot of slotsOf(move.slots)) {
        const owner = ownerOf.get(slot);
        if (owner?.id === to.id) {
          placed++;
          continue;
        }
        const from = layout.nodes.find((n) => n.id === owner?.id);
        if (from === undefined || from.failing) {
          throw new KvClusterError(
            KvClusterErrorCode.Conflict,
            `slot ${slot} has no healthy owner to migrate it from`,
          );
        }
        work.push({ slot, from, to });
      }
    }
    const primaries = layout.groups.filter((g) => !g.primary.failing).map((g) => g.primary.address);
    await this.#closeLeftoverOpenSlots(layout, ownerOf, new Set(work.map((w) => w.slot)));
    const migratingTo = new Map(
      layout.openSlots
        .filter((o) => o.state === 'migrating')
        .map((o) => [`${o.node}/${o.slot}`, o.peer]),
    );
    for (const { slot, from, to } of work) {
      const elsewhere = migratingTo.get(`${from.id}/${slot}`);
      if (elsewhere !== undefined && elsewhere !== to.id) {
        throw new KvClusterError(
          KvClusterErrorCode.Conflict,
          `slot ${slot} is migrating from ${from.address} to node ${elsewhere}, not to ${to.address}; ` +
            'finish or undo that migration first (redis-cli --cluster fix)',
        );
      }
    }
    // One lane per (giver, receiver) pair: pairs move slots at once, each pair's slots one
    // after the other. The first failure stops every lane at its next slot.
    const lanes = new Map<string, typeof work>();
    for (const item of work) {
      const lane = `${item.from.id}>${item.to.id}`;
      lanes.set(lane, [...(lanes.get(lane) ?? []), item]);
    }
    let keys = 0;
    let done = 0;
    let failure: Error | undefined;
    await Promise.all(
      [...lanes.values()].map(async (lane) => {
        for (const { slot, from, to } of lane) {
          if (failure !== undefined) return;
          try {
            this.#checkAborted();
            const moved = await this.#migrateSlot(slot, from, to, primaries);
            keys += moved;
            done++;
            this.#options.onProgress?.({
              phase: 'migrate',
              slot,
              from: from.address,
              to: to.address,
              keys: moved,
              slotsDone: done,
              slotsTotal: work.length,
              keysMoved: keys,
            });
          } catch (error) {
            failure ??= error instanceof Error ? error : new Error(String(error));
            return;
          }
        }
      }),
    );
    if (failure !== undefined) throw failure;
    return { moved: done, placed, keys };
  }

  /**
   * An earlier run stopped between telling the receiver and the giver that a slot changed hands
   * (a crash, or its connections closed mid-step): the slot is placed, yet a node still holds it
   * as migrating or importing, which nothing else would clear. Each such node is told the slot's
   * owner, which closes the state; slots still to move are left for `#migrateSlot`.
   */
  async #closeLeftoverOpenSlots(
    layout: ClusterLayout,
    ownerOf: ReadonlyMap<number, AvailabilityGroup>,
    toMove: ReadonlySet<number>,
  ): Promise<void> {
    for (const open of layout.openSlots) {
      if (toMove.has(open.slot)) continue;
      const owner = ownerOf.get(open.slot);
      const holder = layout.nodes.find((n) => n.id === open.node);
      if (owner === undefined || holder === undefined || holder.failing) continue;
      await this.#connections.call(
        holder.address,
        'CLUSTER',
        'SETSLOT',
        open.slot,
        'NODE',
        owner.id,
      );
    }
  }

  async #migrateSlot(
    slot: number,
    from: ClusterNodeEntry,
    to: ClusterNodeEntry,
    primaries: readonly string[],
  ): Promise<number> {
    const call = this.#connections.call.bind(this.#connections);
    const batch = this.#options.batchSize ?? 100;
    const timeout = this.#options.migrateTimeoutMs ?? 10_000;
    const auth = this.#options.auth;
    const authArgs =
      auth === undefined
        ? []
        : auth.username === undefined
          ? ['AUTH', auth.password]
          : ['AUTH2', auth.username, auth.password];
    try {
      // The receiver first, so a redirected client never finds a node that refuses the slot.
      await call(to.address, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
      await call(from.address, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
      let moved = 0;
      for (;;) {
        const keys = (await call(
          from.address,
          'CLUSTER',
          'GETKEYSINSLOT',
          slot,
          batch,
        )) as string[];
        if (keys.length === 0) break;
        await this.#migrateKeys(from, to, keys, timeout, authArgs);
        moved += keys.length;
        this.#checkAborted();
      }
      // The receiver first again, then the sender, then everyone else (gossip would get there,
      // telling them saves clients a redirection).
      await call(to.address, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
      try {
        await call(from.address, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
      } catch (error) {
        // A primary that gossip already told it lost its last slot has turned into a replica
        // of the receiver (cluster-allow-replica-migration): the slot is placed all the same.
        if (!/only with masters/.test(redisErrorText(error) ?? '')) throw error;
      }
      await Promise.all(
        primaries
          .filter((p) => p !== to.address && p !== from.address)
          .map((p) => call(p, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id).catch(() => undefined)),
      );
      return moved;
    } catch (error) {
      if (error instanceof KvClusterError) throw error;
      throw new KvClusterError(
        KvClusterErrorCode.MigrateFailed,
        `slot ${slot} from ${from.address} to ${to.address}: ${error instanceof Error ? error.message : String(error)}; ` +
          'applying the plan again resumes from this slot',
        { cause: error },
      );
    }
  }

  /**
   * One `MIGRATE` of a batch. A key on both sides is the leftover of a MIGRATE cut off after the
   * copy: the sender's copy is the live one (writes to existing keys go to it), so it replaces
   * the other. A receiver briefly unable to take keys (CLUSTERDOWN, TRYAGAIN, IOERR) is retried
   * for up to the settle bound.
   */
  async #migrateKeys(
    from: ClusterNodeEntry,
    to: ClusterNodeEntry,
    keys: readonly string[],
    timeout: number,
    authArgs: readonly string[],
  ): Promise<void> {
    const deadline = performance.now() + this.#settleMs;
    let replace = false;
    for (let attempt = 1; ; attempt++) {
      const options = replace ? ['REPLACE', ...authArgs] : authArgs;
      try {
        await this.#connections.call(
          from.address,
          'MIGRATE',
          to.host,
          to.port,
          '',
          0,
          timeout,
          ...options,
          'KEYS',
          ...keys,
        );
        return;
      } catch (error) {
        const text = redisErrorText(error) ?? '';
        if (text.startsWith('BUSYKEY') && !replace) {
          replace = true;
          continue;
        }
        if (!/CLUSTERDOWN|TRYAGAIN|IOERR/.test(text) || performance.now() > deadline) throw error;
        this.#checkAborted();
        await sleep(Math.min(1000, 50 * attempt));
      }
    }
  }

  /** Waits until every live node reports the same owner for every slot. */
  async settle(): Promise<void> {
    await this.#waitUntil('every node agreeing on the slot map', async () => {
      const layout = await this.#layout();
      const reference = slotMap(layout.nodes);
      for (const node of layout.nodes.filter((n) => !n.failing && !this.#removed.has(n.address))) {
        if (slotMap(await this.#ownView(node.address)) !== reference) return false;
      }
      return layout.openSlots.length === 0;
    });
  }

  /** Takes the plan's removed nodes out: every other node forgets them, then they are reset. */
  async forget(): Promise<number> {
    const steps = this.#plan.steps.flatMap((s) => (s.kind === 'forget' ? [s] : []));
    if (steps.length === 0) return 0;
    const layout = await this.#layout();
    const stayers = layout.nodes.filter((n) => !n.failing && !this.#removed.has(n.address));
    for (const step of steps) {
      const owned = layout.groups.find((g) => g.id === step.id)?.slotCount ?? 0;
      if (owned > 0) {
        throw new KvClusterError(
          KvClusterErrorCode.Conflict,
          `${step.node} still owns ${owned} slots; it cannot leave the cluster`,
        );
      }
    }
    let removed = 0;
    for (const step of steps) {
      if (!layout.nodes.some((n) => n.id === step.id)) continue;
      for (const stayer of stayers) {
        try {
          await this.#connections.call(stayer.address, 'CLUSTER', 'FORGET', step.id);
        } catch (error) {
          if (!/Unknown node/i.test(redisErrorText(error) ?? '')) throw error;
        }
      }
      removed++;
      this.#options.onProgress?.({ phase: 'forget', node: step.node, id: step.id });
    }
    // Within FORGET's 60 s ban, so gossip cannot bring them back; a reset node forgets the
    // cluster (and, as a replica, its copy of the data).
    for (const step of steps) {
      try {
        await this.#connections.call(step.node, 'CLUSTER', 'RESET', 'HARD');
      } catch (error) {
        if (!(error instanceof KvClusterError && error.code === KvClusterErrorCode.Unreachable)) {
          throw error;
        }
      }
    }
    return removed;
  }
}

/** Slot owners as one comparable string: `<first>-<last>=<id>` per range, sorted. */
function slotMap(nodes: readonly ClusterNodeEntry[]): string {
  return nodes
    .filter((n) => n.role === 'primary')
    .flatMap((n) => n.slots.map(([a, b]) => `${String(a).padStart(5, '0')}-${b}=${n.id}`))
    .sort()
    .join(' ');
}
