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
export { storageMigrations } from './sql/storage-migrations.js';
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
