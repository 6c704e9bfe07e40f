export type { Endpoint, SandboxInfo, SandboxOptions, SqlNodeInfo } from './types.js';
export {
  SandboxError,
  SandboxErrorCode,
  SandboxStartError,
  SandboxTimeoutError,
  type SandboxErrorOptions,
} from './errors.js';
export {
  CLUSTER_BUS_OFFSET,
  DEFAULT_PORT_BASE,
  PORT_OFFSETS,
  SERVER_NAMES,
  defaultSandboxRoot,
  repositoryRoot,
  type ServerName,
} from './layout.js';
export {
  down,
  ensureUp,
  readSandboxInfo,
  reset,
  sandboxInfo,
  status,
  up,
  type DownOptions,
  type DownResult,
  type ServerHealth,
  type ServerStatus,
  type StatusOptions,
  type UpResult,
} from './sandbox.js';
export { sandboxOptionsFromEnv } from './env.js';
export {
  gtidLag,
  killReplica,
  pauseReplicaSqlThread,
  replicaGtidLag,
  resumeReplicaSqlThread,
  setReplicaDelay,
  startPrimary,
  startReplica,
  stopPrimary,
  stopReplica,
  waitForReplicaCatchUp,
  type FaultOptions,
  type ReplicaLag,
} from './mariadb.js';
export { killClusterPrimary, startClusterNode } from './redis.js';
export {
  SCRATCH_MAX_NODES,
  SCRATCH_PORT_OFFSET,
  startScratchCluster,
  type ScratchCluster,
  type ScratchClusterOptions,
} from './scratch-cluster.js';
export { rabbitmqctl, restartRabbitMq } from './rabbitmq.js';
export {
  CONTROLLER_API_OFFSETS,
  DAEMONS,
  sandboxSecretsFile,
  controllerUrls,
  daemonDefaults,
  daemonEntry,
  daemonEnvironment,
  daemonLogFile,
  daemonOpsPort,
  ensureSandboxSecrets,
  platformDefaults,
  type SandboxSecrets,
  type DaemonSpec,
} from './platform.js';
