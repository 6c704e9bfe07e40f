import { SLOT_COUNT } from '../keys.js';
import type { NodeConnections } from './connections.js';
import { KvClusterError, KvClusterErrorCode } from './errors.js';
import type { ClusterLayout } from './layout.js';
import { countSlots, parseAddress, rangesOf, slotsOf, type SlotRange } from './nodes.js';
import { checkGroupSizes, checkSlotSpread, type LayoutFinding } from './rules.js';

/**
 * What to change. Nodes are named by `host:port`; an existing group by its primary's id or by
 * any member's address. An empty target evens out the slots over the current groups.
 */
export interface PlanTarget {
  /** New AGs: empty cluster-enabled nodes, one to be the primary and the rest its replicas. */
  readonly addGroups?: readonly {
    readonly primary: string;
    readonly replicas: readonly string[];
  }[];
  /** AGs to retire: their slots move to the others, then their nodes leave the cluster. */
  readonly removeGroups?: readonly string[];
  /** Empty nodes to join existing AGs as replicas. */
  readonly addReplicas?: readonly { readonly group: string; readonly node: string }[];
  /** Replicas to take out of the cluster. */
  readonly removeReplicas?: readonly string[];
}

/** A group as a plan names it: by members, since a primary (and so the group's id) can change. */
export interface PlannedGroup {
  /** The primary's id for an existing group; `new:<primary address>` for an added one. */
  readonly id: string;
  /** The primary's address when the plan was made (or the new primary). */
  readonly primary: string;
  /** Every member's address after the plan, primary first. */
  readonly members: readonly string[];
  readonly slotCount: number;
}

/** Slots one group hands another, with what the move is expected to carry. */
export interface SlotMove {
  readonly from: PlannedGroup['id'];
  readonly to: PlannedGroup['id'];
  /** Any member of the receiving group: the apply step resolves its primary at run time. */
  readonly toMembers: readonly string[];
  readonly slots: readonly SlotRange[];
  readonly slotCount: number;
  /** `CLUSTER COUNTKEYSINSLOT` summed over the slots when the plan was made. */
  readonly estimatedKeys: number;
  /** Keys × the mean `MEMORY USAGE` of a sample of them. */
  readonly estimatedBytes: number;
}

export type PlanStep =
  | { readonly kind: 'meet'; readonly node: string }
  | { readonly kind: 'replicate'; readonly node: string; readonly group: string }
  | { readonly kind: 'migrate'; readonly move: number }
  | { readonly kind: 'forget'; readonly node: string; readonly id: string };

export interface RebalancePlan {
  readonly version: 1;
  readonly createdAt: string;
  readonly target: PlanTarget;
  readonly before: readonly PlannedGroup[];
  readonly after: readonly PlannedGroup[];
  readonly steps: readonly PlanStep[];
  readonly moves: readonly SlotMove[];
  readonly estimate: {
    readonly slots: number;
    readonly keys: number;
    readonly bytes: number;
    /** How many keys were measured with MEMORY USAGE for the byte estimate. */
    readonly sampledKeys: number;
  };
  /** The seed's rules applied to the layout the plan leads to. */
  readonly findings: readonly LayoutFinding[];
}

/** A group as the slot arithmetic sees it. */
export interface SlotHolder {
  readonly id: string;
  readonly slots: readonly SlotRange[];
}

/** A move before estimates: which slots go from which group to which. */
export interface RawMove {
  readonly from: string;
  readonly to: string;
  readonly slots: readonly SlotRange[];
}

/**
 * The fewest slot moves that leave `finalIds` holding the slots evenly (shares differ by at
 * most one slot). Groups not in `finalIds` give all their slots away; new groups start empty.
 * A group above its share gives away its highest slots, so ranges stay contiguous; the extra
 * slot of an uneven split goes to the groups that already hold the most, which moves fewest.
 */
export function planSlotMoves(
  holders: readonly SlotHolder[],
  finalIds: readonly string[],
): RawMove[] {
  if (finalIds.length === 0) {
    throw new KvClusterError(
      KvClusterErrorCode.InvalidTarget,
      'a plan must leave at least one group',
    );
  }
  const owned = new Map<string, number[]>(holders.map((h) => [h.id, slotsOf(h.slots)]));
  const total = [...owned.values()].reduce((sum, slots) => sum + slots.length, 0);
  const count = (id: string): number => owned.get(id)?.length ?? 0;
  const ranked = [...finalIds].sort((a, b) => count(b) - count(a) || a.localeCompare(b));
  const base = Math.floor(total / finalIds.length);
  const extra = total % finalIds.length;
  const share = new Map<string, number>(ranked.map((id, i) => [id, base + (i < extra ? 1 : 0)]));

  // Slots given away, ascending, each with its giver.
  const pool: { slot: number; from: string }[] = [];
  for (const [id, slots] of owned) {
    const keep = share.get(id) ?? 0;
    for (const slot of slots.slice(keep)) pool.push({ slot, from: id });
  }
  pool.sort((a, b) => a.slot - b.slot);

  const moves = new Map<string, { from: string; to: string; slots: number[] }>();
  let next = 0;
  for (const id of finalIds) {
    const need = (share.get(id) ?? 0) - count(id);
    for (let i = 0; i < need; i++) {
      const given = pool[next++];
      if (given === undefined) break;
      const key = `${given.from}\u0000${id}`;
      const move = moves.get(key) ?? { from: given.from, to: id, slots: [] };
      move.slots.push(given.slot);
      moves.set(key, move);
    }
  }
  return [...moves.values()].map((m) => ({ from: m.from, to: m.to, slots: rangesOf(m.slots) }));
}

function isAddress(name: string): boolean {
  try {
    parseAddress(name);
    return true;
  } catch {
    return false;
  }
}

/** Finds an existing group by its primary's id (or a prefix of 8+ characters) or a member's address. */
function findGroup(layout: ClusterLayout, name: string): ClusterLayout['groups'][number] {
  const group = layout.groups.find(
    (g) => g.id === name || (name.length >= 8 && g.id.startsWith(name)) || g.members.includes(name),
  );
  if (group === undefined) {
    throw new KvClusterError(
      KvClusterErrorCode.InvalidTarget,
      `no availability group ${JSON.stringify(name)} (known: ${layout.groups.map((g) => `${g.id.slice(0, 8)} [${g.members.join(', ')}]`).join('; ')})`,
    );
  }
  return group;
}

/**
 * The plan's shape from a layout and a target, before any estimate: which groups remain, which
 * join, what moves, and the steps in order. Pure; throws `SWB_KV_CLUSTER_INVALID_TARGET` on a
 * target that names unknown groups, reuses a node, or removes everything.
 */
export function draftPlan(
  layout: ClusterLayout,
  target: PlanTarget,
): { before: PlannedGroup[]; after: PlannedGroup[]; moves: RawMove[]; steps: PlanStep[] } {
  if (layout.unassignedSlots.length > 0) {
    throw new KvClusterError(
      KvClusterErrorCode.Conflict,
      `${countSlots(layout.unassignedSlots)} slots are unassigned; assign them before planning a rebalance`,
    );
  }
  const known = new Set(layout.nodes.map((n) => n.address));
  const seen = new Set<string>();
  const fresh = (node: string, role: string): string => {
    if (!isAddress(node)) {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `${role} ${JSON.stringify(node)} is not host:port`,
      );
    }
    if (known.has(node)) {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `${role} ${node} is already a cluster member`,
      );
    }
    if (seen.has(node)) {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `${node} is named twice in the target`,
      );
    }
    seen.add(node);
    return node;
  };

  const removed = new Set((target.removeGroups ?? []).map((name) => findGroup(layout, name).id));
  const droppedReplicas = new Map<string, string>(); // address → id
  for (const name of target.removeReplicas ?? []) {
    const node = layout.nodes.find((n) => n.address === name || n.id === name);
    if (node?.role !== 'replica') {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `${JSON.stringify(name)} is not a replica of this cluster (remove a primary with its group)`,
      );
    }
    droppedReplicas.set(node.address, node.id);
  }
  const joining = new Map<string, string[]>(); // group id → new replica addresses
  for (const { group, node } of target.addReplicas ?? []) {
    const id = findGroup(layout, group).id;
    if (removed.has(id)) {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `cannot add ${node} to group ${group}: the target removes it`,
      );
    }
    joining.set(id, [...(joining.get(id) ?? []), fresh(node, 'replica')]);
  }

  const before: PlannedGroup[] = layout.groups.map((g) => ({
    id: g.id,
    primary: g.primary.address,
    members: g.members,
    slotCount: g.slotCount,
  }));
  const kept = layout.groups
    .filter((g) => !removed.has(g.id))
    .map((g) => ({
      id: g.id,
      primary: g.primary.address,
      members: [...g.members.filter((m) => !droppedReplicas.has(m)), ...(joining.get(g.id) ?? [])],
    }));
  const added = (target.addGroups ?? []).map((g) => {
    const primary = fresh(g.primary, 'primary');
    return {
      id: `new:${primary}`,
      primary,
      members: [primary, ...g.replicas.map((r) => fresh(r, 'replica'))],
    };
  });
  const finalGroups = [...kept, ...added];
  if (finalGroups.length === 0) {
    throw new KvClusterError(
      KvClusterErrorCode.InvalidTarget,
      'the target removes every availability group',
    );
  }
  const moves = planSlotMoves(
    layout.groups.map((g) => ({ id: g.id, slots: g.slots })),
    finalGroups.map((g) => g.id),
  );
  const received = new Map<string, number>();
  const given = new Map<string, number>();
  for (const move of moves) {
    const n = countSlots(move.slots);
    received.set(move.to, (received.get(move.to) ?? 0) + n);
    given.set(move.from, (given.get(move.from) ?? 0) + n);
  }
  const slotCountOf = (id: string): number =>
    (layout.groups.find((g) => g.id === id)?.slotCount ?? 0) +
    (received.get(id) ?? 0) -
    (given.get(id) ?? 0);
  const after = finalGroups.map((g) => ({ ...g, slotCount: slotCountOf(g.id) }));

  const steps: PlanStep[] = [];
  for (const g of added) for (const node of g.members) steps.push({ kind: 'meet', node });
  for (const [, nodes] of joining) for (const node of nodes) steps.push({ kind: 'meet', node });
  for (const g of added)
    for (const node of g.members.slice(1)) steps.push({ kind: 'replicate', node, group: g.id });
  for (const [id, nodes] of joining)
    for (const node of nodes) steps.push({ kind: 'replicate', node, group: id });
  moves.forEach((_, move) => steps.push({ kind: 'migrate', move }));
  for (const g of layout.groups.filter((g) => removed.has(g.id))) {
    for (const member of [...g.replicas, g.primary])
      steps.push({ kind: 'forget', node: member.address, id: member.id });
  }
  for (const [node, id] of droppedReplicas) steps.push({ kind: 'forget', node, id });
  return { before, after, moves, steps };
}

export interface EstimateOptions {
  /** Slots per move whose keys are sampled for MEMORY USAGE; default 32. */
  readonly sampleSlots?: number;
  /** Keys sampled per sampled slot; default 8. */
  readonly keysPerSlot?: number;
}

/** Counts the keys of every moving slot and samples their size, on the giving primaries. */
async function estimateMove(
  connections: NodeConnections,
  address: string,
  slots: readonly number[],
  options: EstimateOptions,
): Promise<{ keys: number; bytes: number; sampled: number }> {
  const counts: number[] = [];
  for (let i = 0; i < slots.length; i += 1000) {
    const chunk = slots.slice(i, i + 1000);
    const replies = await connections.pipeline(
      address,
      chunk.map((slot) => ['CLUSTER', 'COUNTKEYSINSLOT', slot]),
    );
    for (const reply of replies) counts.push(typeof reply === 'number' ? reply : 0);
  }
  const keys = counts.reduce((a, b) => a + b, 0);
  if (keys === 0) return { keys: 0, bytes: 0, sampled: 0 };
  const withKeys = slots.filter((_, i) => (counts[i] ?? 0) > 0);
  const sampleSlots = options.sampleSlots ?? 32;
  const stride = Math.max(1, Math.floor(withKeys.length / sampleSlots));
  const picked = withKeys.filter((_, i) => i % stride === 0).slice(0, sampleSlots);
  const keyLists = await connections.pipeline(
    address,
    picked.map((slot) => ['CLUSTER', 'GETKEYSINSLOT', slot, options.keysPerSlot ?? 8]),
  );
  const sample = keyLists.flatMap((list) => (Array.isArray(list) ? list.map(String) : []));
  if (sample.length === 0) return { keys, bytes: 0, sampled: 0 };
  const sizes = await connections.pipeline(
    address,
    sample.map((key) => ['MEMORY', 'USAGE', key]),
  );
  const measured = sizes.filter((s): s is number => typeof s === 'number');
  const mean = measured.reduce((a, b) => a + b, 0) / Math.max(1, measured.length);
  return { keys, bytes: Math.round(mean * keys), sampled: measured.length };
}

/** The full plan: the draft, plus key and byte estimates from the giving primaries. */
export async function buildPlan(
  connections: NodeConnections,
  layout: ClusterLayout,
  target: PlanTarget,
  options: EstimateOptions = {},
): Promise<RebalancePlan> {
  const draft = draftPlan(layout, target);
  const primaryOf = new Map(layout.groups.map((g) => [g.id, g.primary.address]));
  let sampledKeys = 0;
  const moves: SlotMove[] = [];
  for (const move of draft.moves) {
    const giver = primaryOf.get(move.from);
    const estimate =
      giver === undefined
        ? { keys: 0, bytes: 0, sampled: 0 }
        : await estimateMove(connections, giver, slotsOf(move.slots), options);
    sampledKeys += estimate.sampled;
    moves.push({
      from: move.from,
      to: move.to,
      toMembers: draft.after.find((g) => g.id === move.to)?.members ?? [],
      slots: move.slots,
      slotCount: countSlots(move.slots),
      estimatedKeys: estimate.keys,
      estimatedBytes: estimate.bytes,
    });
  }
  const findings = [
    ...checkGroupSizes(draft.after.map((g) => ({ id: g.id, size: g.members.length }))),
    ...checkSlotSpread(draft.after, SLOT_COUNT),
  ];
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    target,
    before: draft.before,
    after: draft.after,
    steps: draft.steps,
    moves,
    estimate: {
      slots: moves.reduce((sum, m) => sum + m.slotCount, 0),
      keys: moves.reduce((sum, m) => sum + m.estimatedKeys, 0),
      bytes: moves.reduce((sum, m) => sum + m.estimatedBytes, 0),
      sampledKeys,
    },
    findings,
  };
}
