import { SLOT_COUNT } from '../keys.js';
import type { NodeConnections } from './connections.js';
import { KvClusterError, KvClusterErrorCode } from './errors.js';
import {
  countSlots,
  rangesOf,
  slotsOf,
  type ClusterNodeEntry,
  parseClusterNodes,
  type SlotRange,
} from './nodes.js';
import { checkGroupSizes, checkSlotSpread, FindingCode, type LayoutFinding } from './rules.js';

/** One node of an Availability Group, with what it reports about itself. */
export interface GroupMember {
  readonly id: string;
  readonly address: string;
  readonly role: 'primary' | 'replica';
  readonly failing: boolean;
  readonly connected: boolean;
  /** `used_memory` from INFO memory; undefined when the node did not answer. */
  readonly memoryUsedBytes: number | undefined;
  /** DBSIZE; undefined when the node did not answer. */
  readonly keys: number | undefined;
}

/** An Availability Group: one shard of the cluster, a primary and the replicas that follow it. */
export interface AvailabilityGroup {
  /** The primary's node id (it changes when a replica is promoted). */
  readonly id: string;
  readonly primary: GroupMember;
  readonly replicas: readonly GroupMember[];
  /** Every member's address, primary first. */
  readonly members: readonly string[];
  readonly size: number;
  readonly slots: readonly SlotRange[];
  readonly slotCount: number;
  /** The primary's memory in use (every member holds a copy of the same data). */
  readonly memoryUsedBytes: number | undefined;
  readonly keys: number | undefined;
}

/** A slot half-way through a migration, as the node holding the state reports it. */
export interface OpenSlot {
  readonly slot: number;
  readonly node: string;
  readonly state: 'migrating' | 'importing';
  /** The other end's node id. */
  readonly peer: string;
}

export interface ClusterLayout {
  /** The node whose `CLUSTER NODES` this is. */
  readonly readFrom: string;
  readonly readAt: Date;
  readonly groups: readonly AvailabilityGroup[];
  /** Every node, as the answering node sees it. */
  readonly nodes: readonly ClusterNodeEntry[];
  readonly unassignedSlots: readonly SlotRange[];
  readonly openSlots: readonly OpenSlot[];
  /** The seed's rules applied to this layout. */
  readonly findings: readonly LayoutFinding[];
}

export interface NodeStats {
  readonly memoryUsedBytes?: number;
  readonly keys?: number;
}

/**
 * Groups the nodes of `CLUSTER NODES` into AGs: every primary that owns slots or has replicas
 * (an empty primary with no replica is a node that joined and waits for slots: a group of one),
 * with the replicas that follow it. Open slots come from each node's own view (`stats` may add
 * its INFO figures).
 */
export function layoutFromNodes(
  nodes: readonly ClusterNodeEntry[],
  options: {
    readonly readFrom: string;
    readonly readAt?: Date;
    readonly stats?: ReadonlyMap<string, NodeStats>;
    readonly openSlots?: readonly OpenSlot[];
  },
): ClusterLayout {
  const member = (node: ClusterNodeEntry): GroupMember => {
    const stats = options.stats?.get(node.id);
    return {
      id: node.id,
      address: node.address,
      role: node.role,
      failing: node.failing,
      connected: node.connected || node.myself,
      memoryUsedBytes: stats?.memoryUsedBytes,
      keys: stats?.keys,
    };
  };
  const primaries = nodes.filter((n) => n.role === 'primary');
  const groups: AvailabilityGroup[] = primaries.map((primary) => {
    const replicas = nodes.filter((n) => n.role === 'replica' && n.primaryId === primary.id);
    const slots = rangesOf(slotsOf(primary.slots));
    const head = member(primary);
    return {
      id: primary.id,
      primary: head,
      replicas: replicas.map(member),
      members: [primary.address, ...replicas.map((r) => r.address)],
      size: 1 + replicas.length,
      slots,
      slotCount: countSlots(slots),
      memoryUsedBytes: head.memoryUsedBytes,
      keys: head.keys,
    };
  });
  groups.sort((a, b) => (a.slots[0]?.[0] ?? SLOT_COUNT) - (b.slots[0]?.[0] ?? SLOT_COUNT));
  const assigned = new Set<number>();
  for (const group of groups) for (const slot of slotsOf(group.slots)) assigned.add(slot);
  const unassigned: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) if (!assigned.has(slot)) unassigned.push(slot);
  const layout = {
    readFrom: options.readFrom,
    readAt: options.readAt ?? new Date(),
    groups,
    nodes,
    unassignedSlots: rangesOf(unassigned),
    openSlots: options.openSlots ?? openSlotsOf(nodes),
  };
  return { ...layout, findings: checkLayout(layout) };
}

/** Every rule over a layout: group sizes, slot coverage and spread, open slots, failing nodes. */
export function checkLayout(layout: Omit<ClusterLayout, 'findings'>): LayoutFinding[] {
  const findings = checkGroupSizes(layout.groups.map((g) => ({ id: g.id, size: g.size })));
  const unassigned = countSlots(layout.unassignedSlots);
  if (unassigned > 0) {
    findings.push({
      severity: 'error',
      code: FindingCode.SlotsUnassigned,
      message: `${unassigned} hash slots belong to no availability group; keys there cannot be used`,
    });
  }
  findings.push(
    ...checkSlotSpread(
      layout.groups.filter((g) => g.slotCount > 0),
      SLOT_COUNT - unassigned,
    ),
  );
  if (layout.openSlots.length > 0) {
    findings.push({
      severity: 'warning',
      code: FindingCode.SlotsOpen,
      message:
        `${layout.openSlots.length} slot states are mid-migration ` +
        `(e.g. slot ${layout.openSlots[0]?.slot ?? '?'}); applying the interrupted plan again finishes them`,
    });
  }
  for (const node of layout.nodes) {
    if (node.failing) {
      findings.push({
        severity: 'error',
        code: FindingCode.NodeFailing,
        message: `node ${node.address} (${node.id.slice(0, 8)}) is marked failing`,
      });
    }
  }
  return findings;
}

function openSlotsOf(nodes: readonly ClusterNodeEntry[]): OpenSlot[] {
  const open: OpenSlot[] = [];
  for (const node of nodes) {
    for (const [slot, peer] of node.migrating) {
      open.push({ slot, node: node.id, state: 'migrating', peer });
    }
    for (const [slot, peer] of node.importing) {
      open.push({ slot, node: node.id, state: 'importing', peer });
    }
  }
  return open;
}

/**
 * Reads the layout through the first seed that answers `CLUSTER NODES`, then asks every node for
 * its own view (open slots are only visible there) and its memory and key count.
 */
export async function readLayout(
  connections: NodeConnections,
  seeds: readonly string[],
): Promise<ClusterLayout> {
  let nodes: ClusterNodeEntry[] | undefined;
  let readFrom = '';
  const failures: string[] = [];
  for (const seed of seeds) {
    try {
      nodes = parseClusterNodes(String(await connections.call(seed, 'CLUSTER', 'NODES')));
      readFrom = seed;
      break;
    } catch (error) {
      failures.push(`${seed}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (nodes === undefined) {
    throw new KvClusterError(
      KvClusterErrorCode.Unreachable,
      `no seed node answered CLUSTER NODES (${failures.join('; ')})`,
    );
  }
  const stats = new Map<string, NodeStats>();
  const open: OpenSlot[] = [];
  await Promise.all(
    nodes
      .filter((node) => !node.failing && !node.handshake)
      .map(async (node) => {
        try {
          const [info, keys, own] = await connections.pipeline(node.address, [
            ['INFO', 'memory'],
            ['DBSIZE'],
            ['CLUSTER', 'NODES'],
          ]);
          const used = /used_memory:(\d+)/.exec(typeof info === 'string' ? info : '')?.[1];
          stats.set(node.id, {
            ...(used === undefined ? {} : { memoryUsedBytes: Number(used) }),
            ...(typeof keys === 'number' ? { keys } : {}),
          });
          const self = parseClusterNodes(typeof own === 'string' ? own : '').find((n) => n.myself);
          if (self !== undefined) {
            for (const [slot, peer] of self.migrating) {
              open.push({ slot, node: self.id, state: 'migrating', peer });
            }
            for (const [slot, peer] of self.importing) {
              open.push({ slot, node: self.id, state: 'importing', peer });
            }
          }
        } catch {
          // a node that does not answer reports no figures; the layout still lists it
        }
      }),
  );
  open.sort((a, b) => a.slot - b.slot || a.node.localeCompare(b.node));
  return layoutFromNodes(nodes, { readFrom, stats, openSlots: open });
}
