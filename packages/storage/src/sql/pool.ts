import type {
  ExecuteValues,
  FieldPacket,
  Pool,
  PoolConnection,
  QueryOptions,
  QueryResult,
  QueryValues,
} from 'mysql2/promise';

// How the router talks to mysql2: its callback API on the hot path, and what little of its
// internals the router needs (connections in use, aborting them).

/** A statement as mysql2 takes it: text, or options with `sql`. */
export type SqlStatement = string | QueryOptions;
export type Method = 'query' | 'execute';
export type Result = [QueryResult, FieldPacket[]];

export interface WriteHeader {
  readonly affectedRows?: number;
  readonly changedRows?: number;
  readonly info?: string;
}

/**
 * Whether a statement changed rows (so produced a GTID). mysql2 connects with FOUND_ROWS, so an
 * UPDATE's affectedRows counts matched rows; its `info` ("Rows matched: 1  Changed: 0") tells.
 */
export function changedSomething(header: WriteHeader): boolean {
  if ((header.affectedRows ?? 0) === 0) return false;
  if (header.info?.startsWith('Rows matched') === true) return (header.changedRows ?? 0) > 0;
  return true;
}

/** One statement on a pool or connection; the branches pick mysql2's string or options overload. */
/**
 * The callback API of mysql2's core pool. The router calls it instead of the promise wrapper,
 * which captures a stack trace for every query (a fifth of the CPU of a point select in a
 * profile); errors then reach the caller as mysql2 raised them, not as the wrapper's copies.
 */
export interface CallbackQueryable {
  query(sql: SqlStatement, values: unknown, callback: QueryCallback): unknown;
  execute(sql: SqlStatement, values: unknown, callback: QueryCallback): unknown;
}
type QueryCallback = (error: Error | null, result: QueryResult, fields: FieldPacket[]) => void;

export function coreOf(pool: Pool): CallbackQueryable {
  return pool.pool;
}

export function sendCore(
  target: CallbackQueryable,
  method: Method,
  sql: SqlStatement,
  values: unknown,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const done: QueryCallback = (error, result, fields) => {
      if (error === null) resolve([result, fields]);
      else reject(error);
    };
    if (method === 'query') target.query(sql, values, done);
    else target.execute(sql, values, done);
  });
}

export function send(
  target: PoolConnection,
  method: Method,
  sql: SqlStatement,
  values: unknown,
): Promise<Result> {
  if (method === 'query') {
    return typeof sql === 'string'
      ? target.query(sql, values as QueryValues)
      : target.query(sql, values as QueryValues);
  }
  return typeof sql === 'string'
    ? target.execute(sql, values as ExecuteValues)
    : target.execute(sql, values as ExecuteValues);
}

interface PoolInternals {
  readonly _allConnections?: { readonly length: number; toArray?: () => { destroy(): void }[] };
  readonly _freeConnections?: { readonly length: number };
}

/**
 * Connections a node's pool has lent out. mysql2 emits no event when a lent connection dies
 * instead of being released, so its own lists are the truth; the acquire/release count stands in
 * should a mysql2 version not have them.
 */
export function inUse(pool: Pool, counted: number): number {
  const internals = pool.pool as unknown as PoolInternals;
  const all = internals._allConnections?.length;
  const free = internals._freeConnections?.length;
  return all === undefined || free === undefined ? counted : all - free;
}

/** Aborts every connection of a pool (destroy, not a polite QUIT). */
export function destroyPoolConnections(pool: Pool): void {
  // mysql2 keeps its connections in an internal queue; its public API only ends them politely.
  const all = (pool.pool as unknown as PoolInternals)._allConnections;
  for (const connection of all?.toArray?.() ?? []) connection.destroy();
}
