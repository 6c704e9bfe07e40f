// The public surface of @switchboard/storage: every export is named here.

// SQL read/write router (issue #4).
export { StatementRoute, classifyStatement, createStatementClassifier } from './sql/classify.js';
export {
  CausalMode,
  REPLICA_WARNING_THRESHOLD,
  resolveSqlRouterConfig,
  type ResolvedSqlRouterConfig,
  type SqlNodeConfig,
  type SqlNodeInput,
  type SqlRouterOptions,
  type SqlTopology,
} from './sql/config.js';
export {
  SqlCausalTimeoutError,
  SqlConfigError,
  SqlErrorCode,
  SqlErrorFamily,
  SqlMigrationError,
  SqlMigrationLockedError,
  SqlNoReplicaError,
  SqlPrimaryUnavailableError,
  SqlRouterClosedError,
  isConnectionError,
  sqlErrorFamily,
} from './sql/errors.js';
export {
  formatGtid,
  gtidCovers,
  gtidDistance,
  mergeGtid,
  parseGtid,
  type GtidPosition,
} from './sql/gtid.js';
export {
  migrate,
  type MigrateOptions,
  type MigrateResult,
  type PrimaryConnectionSource,
  type SqlMigration,
  type SqlMigrationSet,
} from './sql/migrations.js';
export { migrateConfigReference, migrateConfigSchema } from './sql/migrate-config.js';
export { storageMigrations } from './sql/storage-migrations.js';
export {
  followControllerTopology,
  sqlReplicaAddresses,
  sqlTopologyFromController,
  type SqlTopologyChange,
} from './sql/controller-topology.js';
export {
  SqlRouter,
  SqlSession,
  SqlTarget,
  createSqlRouter,
  type SqlCallOptions,
  type SqlEjectEvent,
  type SqlLagEvent,
  type SqlNodeStatus,
  type SqlRejoinEvent,
  type SqlRole,
  type SqlRouterEvents,
  type SqlStatement,
  type SqlTopologyEvent,
  type SqlTransaction,
  type SqlTransactionOptions,
} from './sql/router.js';

// Blob storage over POSIX and S3 (src/blob).
export {
  BlobChecksumMismatchError,
  BlobCorruptError,
  BlobError,
  BlobErrorCode,
  BlobErrorKind,
  BlobInvalidArgumentError,
  BlobInvalidKeyError,
  BlobNotFoundError,
  BlobPreconditionFailedError,
  BlobUnavailableError,
  BlobUnsupportedError,
  isBlobError,
} from './blob/errors.js';
export { createBlobStore, type BlobStoreDeps } from './blob/index.js';
export {
  blobDefaults,
  resolveBlobConfig,
  type BlobStoreConfig,
  type PosixSigningConfig,
  type S3BlobConfig,
} from './blob/config.js';
export { maxKeyBytes, validateKey, validatePrefix } from './blob/keys.js';
export { checksumAlgorithm, sha256Hex } from './blob/checksum.js';
export { verifyPresignedUrl, type VerifyPresignedOptions } from './blob/presign.js';
export { PosixBlobStore } from './blob/posix.js';
export { S3BlobStore, checksumMetadataKey, type S3BlobStoreDeps } from './blob/s3.js';
export type {
  BlobBody,
  BlobCapabilities,
  BlobInfo,
  BlobMetadata,
  BlobStore,
  ByteRange,
  CleanupOptions,
  CopyOptions,
  GetOptions,
  GetResult,
  ListedObject,
  ListOptions,
  ListPage,
  PresignOptions,
  PutOptions,
  PutResult,
} from './blob/types.js';

// Search over Elasticsearch (src/search): every export is named in src/search/index.ts.
export * from './search/index.js';

// The distributed key-value store on Redis Cluster (src/kv): every export is named in
// src/kv/index.ts.
export * from './kv/index.js';

// Redis Cluster administration: Availability Groups, the seed's rules, rebalance plans
// (src/kv/cluster): every export is named in src/kv/cluster/index.ts.
export * from './kv/cluster/index.js';
