// The public surface of the distributed key-value store (src/kv); the package index re-exports
// these names. The cluster admin lives in ./cluster and has its own exports.

export { createKv, type KvDeps } from './client.js';
export { JsonCodec, type KvCodec } from './codec.js';
export {
  kvDefaults,
  resolveKvConfig,
  type KvConfig,
  type KvReadFrom,
  type ResolvedKvConfig,
} from './config.js';
export { kvClientOptions } from './connection.js';
export {
  KvClosedError,
  KvConflictError,
  KvCrossSlotError,
  KvDeserializeError,
  KvError,
  KvErrorCode,
  KvErrorKind,
  KvInvalidArgumentError,
  KvSerializeError,
  classifyRedisError,
  isKvError,
} from './errors.js';
export { SLOT_COUNT, escapeGlob, groupBySlot, keySlot, type SlotGroup } from './keys.js';
export type {
  Kv,
  KvCasEntry,
  KvCollectionOptions,
  KvCounters,
  KvHashes,
  KvHealth,
  KvNamespace,
  KvNamespaceOptions,
  KvRecordOptions,
  KvRecords,
  KvScannable,
  KvScanOptions,
  KvSets,
  KvWriteOptions,
} from './types.js';
