import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, type Logger } from '@switchboard/runtime';
import type { FieldPacket, PoolConnection, QueryResult } from 'mysql2/promise';
import type { CausalReads } from './causal.js';
import { SqlErrorFamily, isConnectionError, sqlErrorFamily } from './errors.js';
import type { HealthMonitor } from './health.js';
import type { Membership } from './membership.js';
import { send, type SqlStatement } from './pool.js';
import type { SqlSession, SqlTransaction, SqlTransactionOptions } from './types.js';

export interface TransactionsDeps {
  readonly members: Membership;
  readonly causal: CausalReads;
  readonly health: HealthMonitor;
  /** Whether a commit's GTID is recorded for causal reads. */
  readonly trackWrites: boolean;
  readonly logger: Logger | undefined;
}

/** Transactions on the primary: one connection each, retried after a deadlock when asked. */
export class Transactions {
  private readonly members: Membership;
  private readonly causal: CausalReads;
  private readonly health: HealthMonitor;
  private readonly trackWrites: boolean;
  private readonly logger: Logger | undefined;

  constructor(deps: TransactionsDeps) {
    this.members = deps.members;
    this.causal = deps.causal;
    this.health = deps.health;
    this.trackWrites = deps.trackWrites;
    this.logger = deps.logger;
  }

  async run<T>(fn: (tx: SqlTransaction) => Promise<T>, options: SqlTransactionOptions): Promise<T> {
    const retries = options.retries ?? 0;
    const baseDelay = options.retryDelayMs ?? 20;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(fn, options.context);
      } catch (error) {
        if (attempt >= retries || sqlErrorFamily(error) !== SqlErrorFamily.Lock) throw error;
        // Jitter spreads two colliding transactions apart so they do not deadlock again.
        await sleep(backoffDelay(attempt + 1, { baseMs: baseDelay, maxMs: baseDelay * 64 }));
      }
    }
  }

  private async once<T>(
    fn: (tx: SqlTransaction) => Promise<T>,
    context: SqlSession | undefined,
  ): Promise<T> {
    const primary = this.members.primary;
    if (primary.ejected) throw this.health.primaryDown(undefined);
    let connection: PoolConnection;
    try {
      connection = await primary.pool.getConnection();
    } catch (error) {
      throw this.health.onPrimaryError(primary, error);
    }
    let broken = false;
    try {
      await connection.query('START TRANSACTION');
      const tx: SqlTransaction = {
        query: <T extends QueryResult>(sql: SqlStatement, values?: unknown) =>
          send(connection, 'query', sql, values) as Promise<[T, FieldPacket[]]>,
        execute: <T extends QueryResult>(sql: SqlStatement, values?: unknown) =>
          send(connection, 'execute', sql, values) as Promise<[T, FieldPacket[]]>,
      };
      const result = await fn(tx);
      const [commit] = await connection.query('COMMIT');
      if (this.trackWrites) await this.causal.noteWrite(commit, this.causal.contextOf(context));
      return result;
    } catch (error) {
      if (isConnectionError(error)) {
        broken = true;
        throw this.health.onPrimaryError(primary, error);
      }
      try {
        await connection.query('ROLLBACK');
      } catch (rollbackError) {
        // The transaction's own error is the one the caller needs; a connection that cannot
        // roll back is not returned to the pool.
        broken = true;
        this.logger?.warn({ err: rollbackError, node: primary.name }, 'ROLLBACK failed');
      }
      throw error;
    } finally {
      if (broken) connection.destroy();
      else connection.release();
    }
  }
}
