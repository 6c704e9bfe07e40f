export { createClusterAdmin, type ClusterAdmin, type ClusterAdminOptions } from './admin.js';
export { applyPlan, type ApplyOptions, type ApplyProgress, type ApplyResult } from './apply.js';
export { KvClusterError, KvClusterErrorCode } from './errors.js';
export {
  checkLayout,
  layoutFromNodes,
  type AvailabilityGroup,
  type ClusterLayout,
  type GroupMember,
  type NodeStats,
  type OpenSlot,
} from './layout.js';
export {
  addressOf,
  countSlots,
  formatRanges,
  parseAddress,
  parseClusterNodes,
  rangesOf,
  slotsOf,
  type ClusterNodeEntry,
  type SlotRange,
} from './nodes.js';
export {
  buildPlan,
  draftPlan,
  planSlotMoves,
  type EstimateOptions,
  type PlannedGroup,
  type PlanStep,
  type PlanTarget,
  type RawMove,
  type RebalancePlan,
  type SlotHolder,
  type SlotMove,
} from './plan.js';
export {
  checkGroupSizes,
  checkSlotSpread,
  FindingCode,
  MAX_GROUP_SIZE,
  MIN_GROUP_SIZE,
  type GroupSize,
  type LayoutFinding,
} from './rules.js';
