import { SwitchboardError } from '@switchboard/runtime';

/**
 * The families a mysql2 error falls into. Only `connection` errors make the router fail over or
 * eject a node; every other family is the statement's own fault and reaches the caller unchanged.
 */
export const SqlErrorFamily = {
  /** The node could not be reached, or the link dropped: another node may answer. */
  Connection: 'connection',
  /** Deadlock (1213) or lock-wait timeout (1205): the same transaction may succeed if retried. */
  Lock: 'lock',
  /** Duplicate key, foreign key, NOT NULL, CHECK, value out of range or too long. */
  Constraint: 'constraint',
  /** The statement is wrong: parse error, unknown table, column or function. */
  Syntax: 'syntax',
  Other: 'other',
} as const;
export type SqlErrorFamily = (typeof SqlErrorFamily)[keyof typeof SqlErrorFamily];

const connectionCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
]);

const connectionErrnos: ReadonlySet<number> = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1042, // ER_BAD_HOST_ERROR
  1043, // ER_HANDSHAKE_ERROR
  1053, // ER_SERVER_SHUTDOWN
  1077, // ER_NORMAL_SHUTDOWN
  1152, // ER_ABORTING_CONNECTION
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1184, // ER_NEW_ABORTING_CONNECTION
  1927, // ER_CONNECTION_KILLED (MariaDB)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  2055, // CR_SERVER_LOST_EXTENDED
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
]);

const lockErrnos: ReadonlySet<number> = new Set([1205, 1213]);

const constraintErrnos: ReadonlySet<number> = new Set([
  1048, // column cannot be null
  1062, // duplicate entry
  1169, // unique constraint on write
  1216, // no referenced row (old)
  1217, // row is referenced (old)
  1263, // NULL supplied to NOT NULL column
  1264, // out of range
  1364, // field has no default
  1406, // data too long
  1451, // row is referenced
  1452, // no referenced row
  1557, // duplicate key on foreign key update
  1586, // duplicate entry for key name
  3819, // CHECK constraint violated (MySQL)
  4025, // CONSTRAINT_FAILED (MariaDB)
]);

const syntaxErrnos: ReadonlySet<number> = new Set([
  1046, // no database selected
  1049, // unknown database
  1052, // ambiguous column
  1054, // unknown column
  1064, // parse error
  1109, // unknown table in clause
  1110, // column specified twice
  1136, // column count does not match
  1146, // table does not exist
  1149, // syntax error
  1305, // function or procedure does not exist
  1630, // function does not exist
]);

interface DriverErrorShape {
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly fatal?: unknown;
}

/**
 * Sorts an error from mysql2 (or Node's socket layer) into a family. A `fatal` mysql2 error
 * means the connection is unusable, whatever its number, so it counts as a connection error.
 */
export function sqlErrorFamily(error: unknown): SqlErrorFamily {
  if (typeof error !== 'object' || error === null) return SqlErrorFamily.Other;
  const { code, errno, fatal } = error as DriverErrorShape;
  if (typeof errno === 'number' && errno > 0 && errno < 100_000) {
    if (lockErrnos.has(errno)) return SqlErrorFamily.Lock;
    if (constraintErrnos.has(errno)) return SqlErrorFamily.Constraint;
    if (syntaxErrnos.has(errno)) return SqlErrorFamily.Syntax;
    if (connectionErrnos.has(errno)) return SqlErrorFamily.Connection;
  }
  if (typeof code === 'string' && connectionCodes.has(code)) return SqlErrorFamily.Connection;
  if (fatal === true) return SqlErrorFamily.Connection;
  return SqlErrorFamily.Other;
}

/** Whether the error says the node is gone rather than the statement is wrong. */
export function isConnectionError(error: unknown): boolean {
  return sqlErrorFamily(error) === SqlErrorFamily.Connection;
}

/** Codes of the errors the SQL router throws itself; driver SQL errors pass through unchanged. */
export const SqlErrorCode = {
  PrimaryUnavailable: 'SWB_SQL_PRIMARY_UNAVAILABLE',
  NoReplica: 'SWB_SQL_NO_REPLICA',
  CausalTimeout: 'SWB_SQL_CAUSAL_TIMEOUT',
  ConfigInvalid: 'SWB_SQL_CONFIG_INVALID',
  Closed: 'SWB_SQL_CLOSED',
  MigrationFailed: 'SWB_SQL_MIGRATION_FAILED',
  MigrationLocked: 'SWB_SQL_MIGRATION_LOCKED',
} as const;
export type SqlErrorCode = (typeof SqlErrorCode)[keyof typeof SqlErrorCode];

/** The primary cannot be reached: writes fail fast until a health check finds it again. */
export class SqlPrimaryUnavailableError extends SwitchboardError {
  override name = 'SqlPrimaryUnavailableError';
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(SqlErrorCode.PrimaryUnavailable, message, {
      ...options,
      retryable: true,
      statusCode: 503,
    });
  }
}

/** No node could serve a read: every replica is out of the pool and the primary was not allowed or down. */
export class SqlNoReplicaError extends SwitchboardError {
  override name = 'SqlNoReplicaError';
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(SqlErrorCode.NoReplica, message, { ...options, retryable: true, statusCode: 503 });
  }
}

/** A causal read found no replica that had applied the session's last write, and the primary could not serve it. */
export class SqlCausalTimeoutError extends SwitchboardError {
  override name = 'SqlCausalTimeoutError';
  readonly position: string;
  constructor(message: string, position: string, options: { readonly cause?: unknown } = {}) {
    super(SqlErrorCode.CausalTimeout, message, { ...options, retryable: true, statusCode: 503 });
    this.position = position;
  }
}

/** The router's options are invalid; the message names the field. */
export class SqlConfigError extends SwitchboardError {
  override name = 'SqlConfigError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(SqlErrorCode.ConfigInvalid, `invalid SQL router option ${field}: ${message}`);
    this.field = field;
  }
}

/** A call arrived after `close()` or `destroy()`. */
export class SqlRouterClosedError extends SwitchboardError {
  override name = 'SqlRouterClosedError';
  constructor() {
    super(SqlErrorCode.Closed, 'the SQL router is closed', { statusCode: 503 });
  }
}

/** A migration failed; the ones before it stay applied, it and the ones after it do not. */
export class SqlMigrationError extends SwitchboardError {
  override name = 'SqlMigrationError';
  readonly migration: string;
  constructor(migration: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(SqlErrorCode.MigrationFailed, message, options);
    this.migration = migration;
  }
}

/** Another process held the migration lock longer than the wait allowed. */
export class SqlMigrationLockedError extends SwitchboardError {
  override name = 'SqlMigrationLockedError';
  constructor(message: string) {
    super(SqlErrorCode.MigrationLocked, message, { retryable: true });
  }
}
