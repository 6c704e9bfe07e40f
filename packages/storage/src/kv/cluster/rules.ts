/**
 * The seed's rules for Availability Groups (AGs): at least two nodes each (redundancy), at most
 * about four (replication overhead), every group the same size. Pure functions, so the
 * controller's planner checks proposed layouts with the same code that checks live ones.
 */

/** Fewer nodes than this in an AG is an error: one failure loses its slots. */
export const MIN_GROUP_SIZE = 2;
/** More nodes than this in an AG is a warning: replication overhead grows with every replica. */
export const MAX_GROUP_SIZE = 4;

export const FindingCode = {
  /** An AG has fewer than MIN_GROUP_SIZE nodes. */
  GroupTooSmall: 'ag-too-small',
  /** An AG has more than MAX_GROUP_SIZE nodes. */
  GroupTooLarge: 'ag-too-large',
  /** AGs hold different numbers of nodes. */
  GroupsUnequal: 'ag-unequal',
  /** Some hash slots belong to no AG: keys there cannot be read or written. */
  SlotsUnassigned: 'slots-unassigned',
  /** AGs hold uneven shares of the slots (a rebalance plan evens them). */
  SlotsUneven: 'slots-uneven',
  /** Slots are half-way through a migration (an interrupted plan: apply it again). */
  SlotsOpen: 'slots-open',
  /** A node is marked failing by the node that answered. */
  NodeFailing: 'node-failing',
  /** The layout has no AG at all. */
  NoGroups: 'no-groups',
} as const;
export type FindingCode = (typeof FindingCode)[keyof typeof FindingCode];

export interface LayoutFinding {
  readonly severity: 'error' | 'warning';
  readonly code: FindingCode;
  readonly message: string;
  /** The AG the finding is about (its primary's id, or the name a proposal gave it). */
  readonly group?: string;
}

/** A group as the size rules see it. */
export interface GroupSize {
  readonly id: string;
  readonly size: number;
}

/** The size rules over any set of groups, live or proposed. */
export function checkGroupSizes(groups: readonly GroupSize[]): LayoutFinding[] {
  const findings: LayoutFinding[] = [];
  if (groups.length === 0) {
    return [{ severity: 'error', code: FindingCode.NoGroups, message: 'no availability group' }];
  }
  for (const group of groups) {
    if (group.size < MIN_GROUP_SIZE) {
      findings.push({
        severity: 'error',
        code: FindingCode.GroupTooSmall,
        group: group.id,
        message:
          `availability group ${group.id} has ${group.size} node${group.size === 1 ? '' : 's'}; ` +
          `at least ${MIN_GROUP_SIZE} are needed so one failure loses no data`,
      });
    } else if (group.size > MAX_GROUP_SIZE) {
      findings.push({
        severity: 'warning',
        code: FindingCode.GroupTooLarge,
        group: group.id,
        message:
          `availability group ${group.id} has ${group.size} nodes; above ${MAX_GROUP_SIZE} ` +
          'the replication overhead outweighs the redundancy (add groups instead)',
      });
    }
  }
  const sizes = new Set(groups.map((g) => g.size));
  if (sizes.size > 1) {
    const shown = groups.map((g) => `${g.id}: ${g.size}`).join(', ');
    findings.push({
      severity: 'warning',
      code: FindingCode.GroupsUnequal,
      message: `availability groups should hold equal numbers of nodes; they hold ${shown}`,
    });
  }
  return findings;
}

/**
 * Whether slot shares are even: every group within 1% of the slots of an exact share (a plan
 * always lands within one slot).
 */
export function checkSlotSpread(
  groups: readonly { readonly id: string; readonly slotCount: number }[],
  totalSlots: number,
): LayoutFinding[] {
  if (groups.length === 0) return [];
  const share = totalSlots / groups.length;
  const tolerance = Math.max(1, Math.ceil(totalSlots * 0.01));
  const off = groups.filter((g) => Math.abs(g.slotCount - share) > tolerance);
  if (off.length === 0) return [];
  return [
    {
      severity: 'warning',
      code: FindingCode.SlotsUneven,
      message:
        `slots are spread unevenly (an even share is ${Math.round(share)}): ` +
        off.map((g) => `${g.id} holds ${g.slotCount}`).join(', '),
    },
  ];
}
