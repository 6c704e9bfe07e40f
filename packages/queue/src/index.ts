export {
  queueConfigReference,
  queueConfigSchema,
  queueOpsPort,
  queueRequiredWhen,
  type QueueConfig,
} from './config.js';
export { createQueueDaemon } from './daemon.js';
export { createBus } from './bus.js';
export {
  type Bus,
  type BusDeps,
  type BusEvents,
  type BusOptions,
  type BusState,
  type DeliveryContext,
  type EventHandler,
  type PublishOptions,
  type PublishReceipt,
  type SubscribeOptions,
  type Subscription,
} from './bus-types.js';
export { parseEnvelope } from './envelope.js';
export {
  bridgeRule,
  createBridge,
  defaultBridgeJobOptions,
  defaultBridgeQueue,
  defaultBridgeRules,
  planJobs,
  type Bridge,
  type BridgeDeps,
  type BridgeOptions,
  type BridgeRule,
  type PlannedJob,
} from './bridge.js';
export { BoundedBuffer, type BufferLimits } from './buffer.js';
export {
  BridgeStoreError,
  BusBufferFullError,
  BusClosedError,
  BusError,
  BusErrorCode,
  BusInvalidArgumentError,
  BusInvalidEventError,
  BusNackedError,
  BusTopologyError,
  BusUnavailableError,
  BusUnroutableError,
  isBusError,
} from './errors.js';
export {
  attemptsHeader,
  attemptsOf,
  backoffDelay,
  deadKindHeader,
  deadQueueHeader,
  deadReasonHeader,
  onHandlerFailure,
  type BackoffOptions,
  type FailureAction,
} from './retry.js';
export {
  assertTopology,
  consumerQueueTopology,
  deadLetterExchangeOf,
  deadLetterQueueOf,
  defaultEventExchange,
  emptyTopology,
  mergeTopologies,
  queueArguments,
  type BindingSpec,
  type ConsumerQueueOptions,
  type ExchangeSpec,
  type QueueSpec,
  type Topology,
} from './topology.js';

// The catalogues of events and tasks the roles share.
export * from './catalogue/index.js';
