import type { FieldPacket, QueryResult } from 'mysql2/promise';
import { emptyGtidPosition, type GtidPosition } from './gtid.js';
import type { SqlStatement } from './pool.js';

// The router's public value types, apart from the class so its collaborators can share them
// without importing the router. `router.ts` re-exports each one; `index.ts` names them.

/**
 * The causal context of one caller: the newest write it made. Pass it in `options.context`, or
 * run code inside `router.withContext()` so every call in that async scope uses one.
 */
export class SqlSession {
  /** The newest GTID position this session wrote; empty before its first write. */
  position: GtidPosition = emptyGtidPosition();
  /** When that write was acknowledged (performance.now()). */
  writtenAt = 0;
}

/** Where a call may go. */
export const SqlTarget = {
  /** Classify the statement: certainly read-only to a replica, anything else to the primary. */
  Auto: 'auto',
  /** A replica (or the primary as fallback); the caller vouches the statement only reads. */
  Replica: 'replica',
  /** The primary, whatever the statement. */
  Primary: 'primary',
} as const;
export type SqlTarget = (typeof SqlTarget)[keyof typeof SqlTarget];

export interface SqlCallOptions {
  /** Overrides the routing for this one call; default `auto` for query/execute. */
  readonly target?: SqlTarget;
  /** The causal context; default the AsyncLocalStorage scope of `withContext`, if any. */
  readonly context?: SqlSession;
}

export interface SqlTransactionOptions {
  /** Retries after a deadlock (1213) or lock-wait timeout (1205); default 0. */
  readonly retries?: number;
  /** First backoff before a retry, doubled each time, with jitter; default 20 ms. */
  readonly retryDelayMs?: number;
  readonly context?: SqlSession;
}

/** What a transaction callback gets: statements on one primary connection. */
export interface SqlTransaction {
  query<T extends QueryResult = QueryResult>(
    sql: SqlStatement,
    values?: unknown,
  ): Promise<[T, FieldPacket[]]>;
  execute<T extends QueryResult = QueryResult>(
    sql: SqlStatement,
    values?: unknown,
  ): Promise<[T, FieldPacket[]]>;
}

export type SqlRole = 'primary' | 'replica';

export interface SqlEjectEvent {
  readonly node: string;
  readonly role: SqlRole;
  readonly error: unknown;
}
export interface SqlRejoinEvent {
  readonly node: string;
  readonly role: SqlRole;
}
export interface SqlLagEvent {
  readonly node: string;
  readonly lagMs: number;
  /** Whether the replica is in the read pool after this change. */
  readonly inPool: boolean;
}
export interface SqlTopologyEvent {
  readonly primary: string;
  readonly replicas: readonly string[];
}

export interface SqlRouterEvents {
  eject: [SqlEjectEvent];
  rejoin: [SqlRejoinEvent];
  lag: [SqlLagEvent];
  topology: [SqlTopologyEvent];
}

/** One node's state as `router.nodes()` reports it. */
export interface SqlNodeStatus {
  readonly name: string;
  readonly role: SqlRole;
  readonly label: string;
  readonly weight: number;
  /** A replica in the read pool, or a primary taking writes. */
  readonly inPool: boolean;
  readonly ejected: boolean;
  readonly lagging: boolean;
  readonly lagMs: number;
  /** The GTID position last seen applied (replica) or logged (primary). */
  readonly position: string;
}
