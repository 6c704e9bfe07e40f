export { backoffDelay, type BackoffOptions } from './backoff.js';
export { systemClock, type Clock } from './clock.js';
export {
  EndpointSchema,
  HeartbeatReplySchema,
  HeartbeatSchema,
  KvGroupSchema,
  NodeCapacitySchema,
  NodeIdSchema,
  NodeLoadSchema,
  NodeRegistrationSchema,
  NodeRoleSchema,
  NodeStatusSchema,
  NodeViewSchema,
  SqlEndpointSchema,
  TopologySchema,
  controllerRoutes,
  nodeRoles,
  type Endpoint,
  type Heartbeat,
  type HeartbeatReply,
  type KvGroup,
  type NodeLoad,
  type NodeRegistration,
  type NodeRole,
  type NodeStatus,
  type NodeView,
  type SqlEndpoint,
  type Topology,
} from './controller-api.js';
export {
  ControllerClient,
  ControllerClientError,
  ControllerClientErrorCode,
  createControllerClient,
  createDaemonControllerClient,
  type ControllerClientConfig,
  type ControllerClientDeps,
  type ControllerClientEvents,
  type ControllerClientOptions,
  type DaemonControllerOptions,
} from './controller-client.js';
export {
  configFileEnv,
  describeConfig,
  describeType,
  envNameFor,
  envPrefix,
  isSecretSchema,
  loadConfig,
  type ConfigFieldDescription,
  type ConfigOf,
  type DeepReadonly,
  type LoadConfigOptions,
  type LoadedConfig,
  type RequiredWhen,
} from './config.js';
export {
  configReferenceMarkers,
  renderConfigReference,
  replaceConfigReference,
  type ConfigReferenceSection,
} from './config-reference.js';
export {
  amqpCheck,
  amqpConfigSchema,
  controllerClientConfigSchema,
  controllerRequiredWhen,
  kvCheck,
  kvConfigSchema,
  redisCheck,
  redisConfigSchema,
  sqlChecks,
  sqlConfigSchema,
  type AmqpConfigSchema,
  type ControllerClientConfigSchema,
  type KvConfigSchema,
  type RedisConfigSchema,
  type SqlConfigSchema,
} from './dependencies.js';
export {
  CloseTimeoutError,
  ClosedError,
  ConfigError,
  DependencyUnavailableError,
  SwitchboardError,
  formatConfigIssue,
  isRetryable,
  transientNetworkCodes,
  type ConfigIssue,
  type ConfigSource,
  type ConfigWarning,
  type SerializedCause,
  type SerializedSwitchboardError,
  type SwitchboardErrorOptions,
} from './errors.js';
export {
  closeWithDeadline,
  composeComponents,
  defineComponent,
  type Component,
  type ComponentHooks,
  type Timers,
} from './lifecycle.js';
export { createLogger, defaultSecretKeys, type Logger, type LoggerOptions } from './logger.js';
export { createMetricsRegistry, type MetricsRegistryOptions, type Registry } from './metrics.js';
export {
  composeDaemon,
  createOpsServer,
  type OpsServer,
  type OpsServerOptions,
  type ReadinessReport,
} from './ops-server.js';
export {
  anyOfCheck,
  directoryCheck,
  runChecks,
  tcpCheck,
  uriCheck,
  type CheckOptions,
  type CheckResult,
  type ReadinessCheck,
} from './readiness.js';
export {
  exitConfigError,
  runMain,
  type DaemonConfig,
  type DaemonDeps,
  type ProcessLike,
  type RunMainOptions,
} from './run-main.js';
export {
  HostPortString,
  LogLevelSchema,
  SecretString,
  UriString,
  daemonConfigProperties,
  logLevels,
  opsSchema,
  type DaemonConfigProperties,
  type LogLevel,
  type TLogLevel,
  type TSecretString,
  type UriStringOptions,
} from './schema.js';
export { Secret } from './secret.js';
export {
  formatHostPort,
  parseHostPort,
  redactCredentials,
  redactUri,
  tryParseHostPort,
  tryUriHostPort,
  uriHostPort,
  type HostPort,
} from './uri.js';
// The schema builder, so daemons declare their config with the same TypeBox the loader uses.
export { Type, type Static, type StaticDecode, type TObject, type TSchema } from 'typebox';
