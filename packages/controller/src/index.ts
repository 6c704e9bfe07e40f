export { buildControllerApi, type ControllerApi, type ControllerApiOptions } from './api.js';
export { TokenCheck, type Access, type Principal } from './auth.js';
export {
  controllerApiPort,
  controllerConfigReference,
  controllerConfigSchema,
  controllerOpsPort,
  type ControllerConfig,
} from './config.js';
export { createControllerDaemon, type ControllerDaemon } from './daemon.js';
export { ControllerError, ControllerErrorCode, FencedError } from './errors.js';
export { LeaderElection, type LeaderElectionEvents, type LeaderElectionOptions } from './leader.js';
export { NodeCache } from './node-cache.js';
export {
  PlanFindingSchema,
  ProposalSchema,
  SQL_REPLICA_WARNING,
  reviewProposal,
  type LiveKv,
  type PlanFinding,
  type Proposal,
} from './planner.js';
export {
  Plans,
  type PlanProgress,
  type PlanRecord,
  type PlanState,
  type PlansOptions,
} from './plans.js';
export {
  runProbes,
  type KvProbe,
  type ProbeOptions,
  type Probes,
  type SqlProbe,
} from './probes.js';
export {
  Reconciler,
  type ControllerEvents,
  type ControllerStatus,
  type EventSink,
  type ReconcilerOptions,
} from './reconciler.js';
export {
  ControllerStore,
  type LeaderRecord,
  type LeaseRecord,
  type NodeRecord,
  type RegistrySnapshot,
  type TopologyRecord,
} from './store.js';
export { TopologyFeed, buildTopology, nodeView, sameTopology } from './topology.js';
