import { EventEmitter } from 'node:events';
import type { Logger } from '@switchboard/runtime';
import type { FieldPacket, PoolConnection, QueryResult, RowDataPacket } from 'mysql2/promise';
import { CausalReads } from './causal.js';
import { StatementRoute, createStatementClassifier } from './classify.js';
import {
  resolveSqlRouterConfig,
  resolveTopology,
  type ResolvedNode,
  type ResolvedSqlRouterConfig,
  type SqlRouterOptions,
  type SqlTopology,
} from './config.js';
import { SqlNoReplicaError, SqlRouterClosedError, isConnectionError } from './errors.js';
import { gtidCovers } from './gtid.js';
import { HealthMonitor } from './health.js';
import { Membership } from './membership.js';
import { createSqlMetrics, type SqlMetrics } from './metrics.js';
import { drainAndEnd, endPool, openNode, run, statusOf, type Node } from './node.js';
import { destroyPoolConnections, type Method, type Result, type SqlStatement } from './pool.js';
import { Transactions } from './transaction.js';
import {
  SqlSession,
  SqlTarget,
  type SqlCallOptions,
  type SqlNodeStatus,
  type SqlRole,
  type SqlRouterEvents,
  type SqlTransaction,
  type SqlTransactionOptions,
} from './types.js';

export type { SqlStatement } from './pool.js';
export {
  SqlSession,
  SqlTarget,
  type SqlCallOptions,
  type SqlEjectEvent,
  type SqlLagEvent,
  type SqlNodeStatus,
  type SqlRejoinEvent,
  type SqlRole,
  type SqlRouterEvents,
  type SqlTopologyEvent,
  type SqlTransaction,
  type SqlTransactionOptions,
} from './types.js';

/**
 * Routes statements over a primary and its replicas: reads to replicas, everything else to the
 * primary, with causal reads, lag-aware membership, failover and live topology. Its `query`,
 * `execute`, `getConnection` and `end` match a mysql2 promise pool, so it replaces one in one
 * line.
 *
 * The router owns the public surface, the routing and the node lifecycle; it composes
 * `Membership` (the topology and read pool), `CausalReads` (what a read must see and the GTID
 * waits) and `HealthMonitor` (the poller, ejection, rejoin and lag).
 */
export class SqlRouter extends EventEmitter<SqlRouterEvents> {
  readonly config: ResolvedSqlRouterConfig;
  private readonly members: Membership;
  private readonly causal: CausalReads;
  private readonly health: HealthMonitor;
  private readonly transactions: Transactions;
  private readonly classify = createStatementClassifier();
  private readonly metrics: SqlMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly trackWrites: boolean;
  private readonly draining = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;

  constructor(options: SqlRouterOptions) {
    super();
    this.config = resolveSqlRouterConfig(options);
    this.logger = options.logger;
    this.trackWrites = this.config.causalMode !== 'none';
    this.metrics =
      options.registry === undefined
        ? undefined
        : createSqlMetrics(options.registry, { nodes: () => this.nodeIterable() });
    for (const warning of this.config.topology.warnings) this.logger?.warn(warning);
    this.members = new Membership(
      this.openNode(this.config.topology.primary, 'primary'),
      this.config.topology.replicas.map((r) => this.openNode(r, 'replica')),
    );
    this.causal = new CausalReads({
      config: this.config,
      members: this.members,
      classify: this.classify,
      metrics: this.metrics,
      logger: this.logger,
      eject: (node, error) => {
        this.health.eject(node, error);
      },
    });
    this.health = new HealthMonitor({
      config: this.config,
      members: this.members,
      causal: this.causal,
      events: this,
      metrics: this.metrics,
      logger: this.logger,
    });
    this.transactions = new Transactions({
      members: this.members,
      causal: this.causal,
      health: this.health,
      trackWrites: this.trackWrites,
      logger: this.logger,
    });
    this.health.start();
  }

  // -------------------------------------------------------------------------------------------
  // The mysql2-like surface

  /** Like mysql2's `pool.query`: classified, then routed. */
  query<T extends QueryResult = RowDataPacket[]>(
    sql: SqlStatement,
    values?: unknown,
    options?: SqlCallOptions,
  ): Promise<[T, FieldPacket[]]> {
    return this.route('query', sql, values, options) as Promise<[T, FieldPacket[]]>;
  }

  /** Like mysql2's `pool.execute` (prepared statements): classified, then routed. */
  execute<T extends QueryResult = RowDataPacket[]>(
    sql: SqlStatement,
    values?: unknown,
    options?: SqlCallOptions,
  ): Promise<[T, FieldPacket[]]> {
    return this.route('execute', sql, values, options) as Promise<[T, FieldPacket[]]>;
  }

  /** A read, on a replica when one can serve it: the caller vouches the statement only reads. */
  read<T extends QueryResult = RowDataPacket[]>(
    sql: SqlStatement,
    values?: unknown,
    options?: { readonly context?: SqlSession; readonly prepared?: boolean },
  ): Promise<[T, FieldPacket[]]> {
    if (this.closed) return Promise.reject(new SqlRouterClosedError());
    return this.readPath(
      options?.prepared === true ? 'execute' : 'query',
      sql,
      values,
      this.causal.requiredPosition(options?.context),
    ) as Promise<[T, FieldPacket[]]>;
  }

  /** A statement on the primary, whatever it is; also the way to force the primary for one read. */
  write<T extends QueryResult = RowDataPacket[]>(
    sql: SqlStatement,
    values?: unknown,
    options?: { readonly context?: SqlSession; readonly prepared?: boolean },
  ): Promise<[T, FieldPacket[]]> {
    if (this.closed) return Promise.reject(new SqlRouterClosedError());
    return this.writePath(
      options?.prepared === true ? 'execute' : 'query',
      sql,
      values,
      options?.context,
    ) as Promise<[T, FieldPacket[]]>;
  }

  /**
   * A connection of the primary's pool, as mysql2's `pool.getConnection()` gives one: anything
   * may run on it, so it is never a replica. Release it when done.
   */
  async getConnection(): Promise<PoolConnection> {
    this.assertOpen();
    const primary = this.members.primary;
    if (primary.ejected) throw this.health.primaryDown(undefined);
    try {
      return await primary.pool.getConnection();
    } catch (error) {
      throw this.health.onPrimaryError(primary, error);
    }
  }

  /** mysql2's name for `close()`. */
  end(): Promise<void> {
    return this.close();
  }

  // -------------------------------------------------------------------------------------------
  // Transactions and causal contexts

  /**
   * Runs `fn` in one transaction on one primary connection: COMMIT when it resolves, ROLLBACK when
   * it throws. With `retries`, a deadlock or lock-wait timeout runs `fn` again from the start.
   */
  async transaction<T>(
    fn: (tx: SqlTransaction) => Promise<T>,
    options: SqlTransactionOptions = {},
  ): Promise<T> {
    this.assertOpen();
    return this.transactions.run(fn, options);
  }

  /** A fresh causal context, for callers that pass it explicitly. */
  createSession(): SqlSession {
    return new SqlSession();
  }

  /** Runs `fn` with `session` (default: a fresh one) as the causal context of every call inside it. */
  withContext<T>(fn: () => T, session: SqlSession = new SqlSession()): T {
    return this.causal.withContext(fn, session);
  }

  // -------------------------------------------------------------------------------------------
  // Topology and state

  /**
   * Adds, removes or replaces replicas and the primary. New nodes take traffic at once; removed
   * ones leave the pools at once and close after their in-flight statements finish, so no query
   * in progress fails.
   */
  setTopology(topology: SqlTopology): void {
    this.assertOpen();
    const resolved = resolveTopology(topology);
    for (const warning of resolved.warnings) this.logger?.warn(warning);
    const removed = this.members.replace(resolved, (config, role) => this.openNode(config, role));
    for (const node of removed) this.retire(node);
    const { primary, replicas } = this.members;
    this.emit('topology', { primary: primary.name, replicas: replicas.map((r) => r.name) });
    this.logger?.info(
      { primary: primary.config.label, replicas: replicas.map((r) => r.config.label) },
      'SQL topology changed',
    );
  }

  /** Every node's state: membership, lag, position. */
  nodes(): SqlNodeStatus[] {
    return [...this.nodeIterable()].map((n) => n);
  }

  /** Waits for one poll of every node to complete (tests and startup checks). */
  async refresh(): Promise<void> {
    await this.health.refresh();
  }

  /** Drains every pool: statements in flight finish, new ones are refused. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      this.health.stop();
      await this.health.inFlight();
      await Promise.allSettled([...this.draining]);
      await Promise.all(this.members.all().map((n) => endPool(n, this.logger)));
    })();
    return this.closing;
  }

  /** Closes every connection at once; statements in flight fail. Idempotent. */
  destroy(): Promise<void> {
    this.closed = true;
    this.destroying ??= (async () => {
      this.health.stop();
      for (const node of this.members.all()) {
        destroyPoolConnections(node.pool);
        if (node.causal !== undefined) destroyPoolConnections(node.causal);
      }
      await Promise.all(this.members.all().map((n) => endPool(n, this.logger)));
    })();
    return this.destroying;
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  private route(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    options: SqlCallOptions | undefined,
  ): Promise<Result> {
    if (this.closed) return Promise.reject(new SqlRouterClosedError());
    const target = options?.target ?? SqlTarget.Auto;
    const isRead =
      target === SqlTarget.Replica ||
      (target === SqlTarget.Auto &&
        this.classify(typeof sql === 'string' ? sql : sql.sql) === StatementRoute.Read);
    return isRead
      ? this.readPath(method, sql, values, this.causal.requiredPosition(options?.context))
      : this.writePath(method, sql, values, options?.context);
  }

  private writePath(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    explicit: SqlSession | undefined,
  ): Promise<Result> {
    const primary = this.members.primary;
    if (primary.ejected) return Promise.reject(this.health.primaryDown(undefined));
    const pending = run(primary, method, sql, values).then(undefined, (error: unknown) => {
      throw this.health.onPrimaryError(primary, error);
    });
    if (!this.trackWrites) return pending;
    const context = this.causal.contextOf(explicit);
    // Nothing to record: no session to advance and no global position to keep.
    if (context === undefined && this.config.causalMode !== 'global') return pending;
    return pending.then(async (result) => {
      await this.causal.noteWrite(result[0], context);
      return result;
    });
  }

  /**
   * The common read (no causal wait) is one pick and one call with no async frame of its own;
   * anything else, or a failover, takes the general loop.
   */
  private readPath(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    want: SqlSession | undefined,
  ): Promise<Result> {
    if (want === undefined) {
      const node = this.members.pickReplica(undefined);
      if (node !== undefined) {
        return run(node, method, sql, values).then(undefined, (error: unknown) => {
          if (!isConnectionError(error)) throw error;
          this.health.eject(node, error);
          this.metrics?.failover(node.name);
          return this.readLoop(method, sql, values, want, [node], error);
        });
      }
    }
    return this.readLoop(method, sql, values, want, undefined, undefined);
  }

  private async readLoop(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    want: SqlSession | undefined,
    alreadyTried: Node[] | undefined,
    previousError: unknown,
  ): Promise<Result> {
    let tried = alreadyTried;
    let lastError = previousError;
    let causalMiss = false;
    while (this.members.readable.length > 0) {
      const node =
        want === undefined
          ? this.members.pickReplica(tried)
          : (this.members.pickCaughtUp(want.position, tried) ?? this.members.pickReplica(tried));
      if (node === undefined) break;
      try {
        if (want !== undefined) {
          if (gtidCovers(node.position, want.position)) {
            this.metrics?.causal('cached');
          } else if (this.causal.predictBehind(node, want)) {
            causalMiss = true;
            break;
          } else if (this.causal.canCombine(method, sql, values)) {
            const result = await this.causal.waitAndRead(
              node,
              want,
              sql as string,
              values as unknown[],
            );
            if (result !== undefined) {
              this.metrics?.causal('waited');
              return result;
            }
            causalMiss = true;
            break;
          } else if (
            await this.causal.waitForPosition(node, want, this.config.causalWaitTimeoutMs)
          ) {
            this.metrics?.causal('waited');
          } else {
            causalMiss = true;
            break;
          }
        }
        return await run(node, method, sql, values);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        this.health.eject(node, error);
        this.metrics?.failover(node.name);
        (tried ??= []).push(node);
        lastError = error;
      }
    }
    const primary = this.members.primary;
    if (causalMiss || this.members.replicas.length === 0 || this.config.fallbackToPrimary) {
      if (primary.ejected)
        return this.readWithoutPrimary(method, sql, values, want, lastError, causalMiss);
      try {
        const result = await run(primary, method, sql, values);
        if (causalMiss) this.metrics?.causal('primary');
        return result;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        const down = this.health.onPrimaryError(primary, error);
        if (want !== undefined)
          return this.readWithoutPrimary(method, sql, values, want, error, causalMiss);
        throw down;
      }
    }
    throw new SqlNoReplicaError(
      `no replica can serve the read (${this.members.replicas.length} configured, none in the read pool) and fallbackToPrimary is off`,
      { cause: lastError },
    );
  }

  /** A read that needed the primary while it is down: only a causal miss can still be served. */
  private readWithoutPrimary(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    want: SqlSession | undefined,
    cause: unknown,
    causalMiss: boolean,
  ): Promise<Result> {
    if (want === undefined || !causalMiss) {
      return Promise.reject(
        new SqlNoReplicaError('no replica can serve the read and the primary is unavailable', {
          cause,
        }),
      );
    }
    return this.causal.readWhilePrimaryDown(method, sql, values, want, cause);
  }

  // -------------------------------------------------------------------------------------------
  // Pools

  private openNode(config: ResolvedNode, role: SqlRole): Node {
    return openNode(config, role, {
      config: this.config,
      metrics: this.metrics,
      logger: this.logger,
      trackWrites: this.trackWrites,
    });
  }

  /** Takes a node out of service and closes its pool once nothing is leased from it. */
  private retire(node: Node): void {
    node.removed = true;
    const drain = drainAndEnd(
      node,
      this.config.drainTimeoutMs,
      () => this.closed,
      this.logger,
    ).then(() => {
      if (this.metrics !== undefined) this.metrics.removeNode(node.name, node.role);
    });
    this.draining.add(drain);
    void drain.finally(() => this.draining.delete(drain));
  }

  private *nodeIterable(): Generator<SqlNodeStatus> {
    for (const node of this.members.all()) yield statusOf(node);
  }

  private assertOpen(): void {
    if (this.closed) throw new SqlRouterClosedError();
  }
}

/** Creates a router; see `SqlRouterOptions`. */
export function createSqlRouter(options: SqlRouterOptions): SqlRouter {
  return new SqlRouter(options);
}
