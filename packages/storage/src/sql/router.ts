import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@switchboard/runtime';
import {
  createPool,
  type FieldPacket,
  type Pool,
  type PoolConnection,
  type QueryResult,
  type RowDataPacket,
} from 'mysql2/promise';
import { StatementRoute, createStatementClassifier } from './classify.js';
import {
  resolveSqlRouterConfig,
  resolveTopology,
  type ResolvedNode,
  type ResolvedSqlRouterConfig,
  type SqlRouterOptions,
  type SqlTopology,
} from './config.js';
import {
  SqlCausalTimeoutError,
  SqlErrorFamily,
  SqlNoReplicaError,
  SqlPrimaryUnavailableError,
  SqlRouterClosedError,
  isConnectionError,
  sqlErrorFamily,
} from './errors.js';
import {
  emptyGtidPosition,
  formatGtid,
  gtidCovers,
  mergeGtid,
  parseGtid,
  type GtidPosition,
} from './gtid.js';
import { LagClock } from './lag.js';
import { createSqlMetrics, type NodeMetrics, type SqlMetrics } from './metrics.js';
import {
  changedSomething,
  coreOf,
  destroyPoolConnections,
  inUse,
  send,
  sendCore,
  type CallbackQueryable,
  type Method,
  type Result,
  type SqlStatement,
  type WriteHeader,
} from './pool.js';

export type { SqlStatement } from './pool.js';

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

interface Node {
  readonly config: ResolvedNode;
  readonly name: string;
  readonly role: SqlRole;
  readonly pool: Pool;
  readonly core: CallbackQueryable;
  /**
   * A replica's second pool, with multi-statements on, for causal reads that send the GTID wait
   * and the read in one round trip. Opened on the first such read; only the router's own
   * wait-and-read statements run on it, never a caller's text alone.
   */
  causal: Pool | undefined;
  readonly metrics: NodeMetrics | undefined;
  ejected: boolean;
  lagging: boolean;
  removed: boolean;
  position: GtidPosition;
  lagMs: number;
  /** Moving estimate of how long this replica takes to apply a write (ms); 0 before the first wait. */
  applyDelayMs: number;
  goodChecks: number;
  goodLagPolls: number;
  /** Connections handed out by the pool and not yet released (queries, transactions, getConnection). */
  leased: number;
}

const EXPLORE_EVERY = 8;

/**
 * Routes statements over a primary and its replicas: reads to replicas, everything else to the
 * primary, with causal reads, lag-aware membership, failover and live topology. Its `query`,
 * `execute`, `getConnection` and `end` match a mysql2 promise pool, so it replaces one in one
 * line.
 */
export class SqlRouter extends EventEmitter<SqlRouterEvents> {
  readonly config: ResolvedSqlRouterConfig;
  private primaryNode: Node;
  private replicaNodes: Node[] = [];
  /** Replicas in the read pool, rebuilt on every membership change. */
  private readable: Node[] = [];
  private totalWeight = 0;
  private uniformWeights = true;
  private nextIndex = 0;
  /** In `global` mode, the newest write the router knows of, from any context. */
  private readonly global = new SqlSession();
  /** Counts predictions, so one in `EXPLORE_EVERY` also probes the replica in the background. */
  private predictions = 0;
  private readonly lag = new LagClock();
  private readonly classify = createStatementClassifier();
  private readonly als = new AsyncLocalStorage<SqlSession>();
  private readonly metrics: SqlMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly trackWrites: boolean;
  private readonly draining = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
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
    this.primaryNode = this.openNode(this.config.topology.primary, 'primary');
    this.replicaNodes = this.config.topology.replicas.map((r) => this.openNode(r, 'replica'));
    this.rebuildReadPool();
    this.schedulePoll(0);
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
      this.requiredPosition(options?.context),
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
    const primary = this.primaryNode;
    if (primary.ejected) throw this.primaryDown(undefined);
    try {
      return await primary.pool.getConnection();
    } catch (error) {
      throw this.onPrimaryError(primary, error);
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
    const retries = options.retries ?? 0;
    const baseDelay = options.retryDelayMs ?? 20;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.transactionOnce(fn, options.context);
      } catch (error) {
        if (attempt >= retries || sqlErrorFamily(error) !== SqlErrorFamily.Lock) throw error;
        // Jitter spreads two colliding transactions apart so they do not deadlock again.
        await sleep(baseDelay * 2 ** attempt * (0.5 + Math.random()));
      }
    }
  }

  private async transactionOnce<T>(
    fn: (tx: SqlTransaction) => Promise<T>,
    context: SqlSession | undefined,
  ): Promise<T> {
    const primary = this.primaryNode;
    if (primary.ejected) throw this.primaryDown(undefined);
    let connection: PoolConnection;
    try {
      connection = await primary.pool.getConnection();
    } catch (error) {
      throw this.onPrimaryError(primary, error);
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
      if (this.trackWrites) await this.noteWrite(commit, this.contextOf(context));
      return result;
    } catch (error) {
      if (isConnectionError(error)) {
        broken = true;
        throw this.onPrimaryError(primary, error);
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

  /** A fresh causal context, for callers that pass it explicitly. */
  createSession(): SqlSession {
    return new SqlSession();
  }

  /** Runs `fn` with `session` (default: a fresh one) as the causal context of every call inside it. */
  withContext<T>(fn: () => T, session: SqlSession = new SqlSession()): T {
    return this.als.run(session, fn);
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
    const old = [this.primaryNode, ...this.replicaNodes];
    const reuse = (config: ResolvedNode, role: SqlRole): Node => {
      const existing = old.find(
        (n) =>
          n.role === role && n.name === config.name && n.config.fingerprint === config.fingerprint,
      );
      if (existing === undefined) return this.openNode(config, role);
      if (existing.config.weight === config.weight) return existing;
      // Same server, new weight: keep the pool and its state.
      const updated: Node = Object.assign(existing, { config });
      return updated;
    };
    const primary = reuse(resolved.primary, 'primary');
    const replicas = resolved.replicas.map((r) => reuse(r, 'replica'));
    const kept = new Set<Node>([primary, ...replicas]);
    this.primaryNode = primary;
    this.replicaNodes = replicas;
    this.rebuildReadPool();
    for (const node of old) if (!kept.has(node)) this.retire(node);
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
    await (this.polling ?? this.pollOnce());
  }

  /** Drains every pool: statements in flight finish, new ones are refused. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      this.stopPolling();
      await this.polling;
      await Promise.allSettled([...this.draining]);
      await Promise.all(this.allNodes().map((n) => this.endPool(n)));
    })();
    return this.closing;
  }

  /** Closes every connection at once; statements in flight fail. Idempotent. */
  destroy(): Promise<void> {
    this.closed = true;
    this.destroying ??= (async () => {
      this.stopPolling();
      for (const node of this.allNodes()) {
        destroyPoolConnections(node.pool);
        if (node.causal !== undefined) destroyPoolConnections(node.causal);
      }
      await Promise.all(this.allNodes().map((n) => this.endPool(n)));
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
      ? this.readPath(method, sql, values, this.requiredPosition(options?.context))
      : this.writePath(method, sql, values, options?.context);
  }

  private contextOf(explicit: SqlSession | undefined): SqlSession | undefined {
    return explicit ?? this.als.getStore();
  }

  /** The session whose last write a read must see, or undefined when it may go anywhere. */
  private requiredPosition(explicit: SqlSession | undefined): SqlSession | undefined {
    switch (this.config.causalMode) {
      case 'none':
        return undefined;
      case 'session': {
        const session = this.contextOf(explicit);
        return session === undefined || session.position.size === 0 ? undefined : session;
      }
      case 'global':
        return this.global.position.size === 0 ? undefined : this.global;
    }
  }

  private writePath(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    explicit: SqlSession | undefined,
  ): Promise<Result> {
    const primary = this.primaryNode;
    if (primary.ejected) return Promise.reject(this.primaryDown(undefined));
    const pending = this.run(primary, method, sql, values).then(undefined, (error: unknown) => {
      throw this.onPrimaryError(primary, error);
    });
    if (!this.trackWrites) return pending;
    const context = this.contextOf(explicit);
    // Nothing to record: no session to advance and no global position to keep.
    if (context === undefined && this.config.causalMode !== 'global') return pending;
    return pending.then(async (result) => {
      await this.noteWrite(result[0], context);
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
      const node = this.pickReplica(undefined);
      if (node !== undefined) {
        return this.run(node, method, sql, values).then(undefined, (error: unknown) => {
          if (!isConnectionError(error)) throw error;
          this.eject(node, error);
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
    while (this.readable.length > 0) {
      const node =
        want === undefined
          ? this.pickReplica(tried)
          : (this.pickCaughtUp(want.position, tried) ?? this.pickReplica(tried));
      if (node === undefined) break;
      try {
        if (want !== undefined) {
          if (gtidCovers(node.position, want.position)) {
            this.metrics?.causal('cached');
          } else if (this.predictBehind(node, want)) {
            causalMiss = true;
            break;
          } else if (this.canCombine(method, sql, values)) {
            const result = await this.waitAndRead(node, want, sql as string, values as unknown[]);
            if (result !== undefined) {
              this.metrics?.causal('waited');
              return result;
            }
            causalMiss = true;
            break;
          } else if (await this.waitForPosition(node, want, this.config.causalWaitTimeoutMs)) {
            this.metrics?.causal('waited');
          } else {
            causalMiss = true;
            break;
          }
        }
        return await this.run(node, method, sql, values);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        this.eject(node, error);
        this.metrics?.failover(node.name);
        (tried ??= []).push(node);
        lastError = error;
      }
    }
    const primary = this.primaryNode;
    if (causalMiss || this.replicaNodes.length === 0 || this.config.fallbackToPrimary) {
      if (primary.ejected)
        return this.readWithoutPrimary(method, sql, values, want, lastError, causalMiss);
      try {
        const result = await this.run(primary, method, sql, values);
        if (causalMiss) this.metrics?.causal('primary');
        return result;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        const down = this.onPrimaryError(primary, error);
        if (want !== undefined)
          return this.readWithoutPrimary(method, sql, values, want, error, causalMiss);
        throw down;
      }
    }
    throw new SqlNoReplicaError(
      `no replica can serve the read (${this.replicaNodes.length} configured, none in the read pool) and fallbackToPrimary is off`,
      { cause: lastError },
    );
  }

  /** A read that needed the primary while it is down. */
  private async readWithoutPrimary(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    want: SqlSession | undefined,
    cause: unknown,
    causalMiss: boolean,
  ): Promise<Result> {
    if (want === undefined || !causalMiss) {
      throw new SqlNoReplicaError('no replica can serve the read and the primary is unavailable', {
        cause,
      });
    }
    if (this.config.onPrimaryDown === 'wait') {
      for (const node of this.readable) {
        try {
          if (await this.waitForPosition(node, want, this.config.primaryDownWaitMs)) {
            this.metrics?.causal('waited');
            return await this.run(node, method, sql, values);
          }
        } catch (error) {
          if (!isConnectionError(error)) throw error;
          this.eject(node, error);
        }
      }
    }
    this.metrics?.causal('timeout');
    throw new SqlCausalTimeoutError(
      `no replica has applied GTID ${formatGtid(want.position)} and the primary is unavailable`,
      formatGtid(want.position),
      { cause },
    );
  }

  private pickReplica(exclude: readonly Node[] | undefined): Node | undefined {
    const pool = this.readable;
    const count = pool.length;
    if (count === 0) return undefined;
    if (exclude === undefined) {
      if (this.uniformWeights) {
        const index = this.nextIndex++ % count;
        if (this.nextIndex >= 1 << 30) this.nextIndex = 0;
        return pool[index];
      }
      let ticket = Math.random() * this.totalWeight;
      for (const node of pool) {
        ticket -= node.config.weight;
        if (ticket < 0) return node;
      }
      return pool[count - 1];
    }
    const candidates = pool.filter((n) => !exclude.includes(n));
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  /** A replica the router already knows has applied `want`: no wait, no extra round trip. */
  private pickCaughtUp(want: GtidPosition, exclude: readonly Node[] | undefined): Node | undefined {
    const pool = this.readable;
    const count = pool.length;
    const start = this.nextIndex++ % count;
    for (let i = 0; i < count; i++) {
      const node = pool[(start + i) % count];
      if (
        node !== undefined &&
        gtidCovers(node.position, want) &&
        !(exclude?.includes(node) ?? false)
      ) {
        return node;
      }
    }
    return undefined;
  }

  /**
   * Whether the GTID wait and the read can travel as one multi-statement: a text-protocol query
   * with positional values whose text the classifier proves is a single read-only statement (so
   * a caller's `read('…; DROP …')` never reaches the multi-statement pool).
   */
  private canCombine(method: Method, sql: SqlStatement, values: unknown): boolean {
    return (
      method === 'query' &&
      typeof sql === 'string' &&
      (values === undefined || Array.isArray(values)) &&
      this.classify(sql) === StatementRoute.Read
    );
  }

  /**
   * `SELECT MASTER_GTID_WAIT(…); <read>` in one round trip. The server runs the read only after
   * the wait returns; when the wait timed out, the read's answer may be stale and is dropped
   * (undefined), and the caller goes to the primary.
   */
  private async waitAndRead(
    node: Node,
    want: SqlSession,
    sql: string,
    values: readonly unknown[] | undefined,
  ): Promise<Result | undefined> {
    node.causal ??= createPool({
      ...this.config.pool,
      ...node.config.options,
      multipleStatements: true,
    });
    const [results, fields] = await this.run(
      node,
      'query',
      `SELECT MASTER_GTID_WAIT(?, ?) AS swb_wait;\n${sql}`,
      [formatGtid(want.position), this.config.causalWaitTimeoutMs / 1000, ...(values ?? [])],
      coreOf(node.causal),
    );
    const sets = results as unknown as readonly QueryResult[];
    const wait = sets[0] as RowDataPacket[] | undefined;
    if (!this.waited(node, want, Number(wait?.[0]?.swb_wait) === 0)) return undefined;
    const fieldSets = fields as unknown as readonly FieldPacket[][];
    return sets.length === 2
      ? [sets[1] as QueryResult, fieldSets[1] ?? []]
      : [sets.slice(1) as unknown as QueryResult, fieldSets.slice(1) as unknown as FieldPacket[]];
  }

  /**
   * MASTER_GTID_WAIT on the replica; on success the
   * router remembers the replica has reached `want`, so the next read at that position skips it.
   */
  private async waitForPosition(node: Node, want: SqlSession, timeoutMs: number): Promise<boolean> {
    const seconds = timeoutMs / 1000;
    const gtid = formatGtid(want.position);
    const sql = 'SELECT MASTER_GTID_WAIT(?, ?) AS w';
    const [rows] = (await this.run(node, 'query', sql, [gtid, seconds])) as [
      RowDataPacket[],
      FieldPacket[],
    ];
    return this.waited(node, want, Number(rows[0]?.w) === 0);
  }

  /**
   * Learns from a wait: on success the replica has reached the session's position (the next read
   * at that position needs no wait), and the time since the write bounds how long this replica
   * takes to apply one; on a timeout it took longer than the write's age plus the timeout.
   */
  private waited(node: Node, want: SqlSession, ok: boolean): boolean {
    const age = performance.now() - want.writtenAt;
    const sample = ok ? age : age + this.config.causalWaitTimeoutMs;
    node.applyDelayMs = node.applyDelayMs === 0 ? sample : node.applyDelayMs * 0.8 + sample * 0.2;
    if (ok) node.position = mergeGtid(node.position, want.position);
    return ok;
  }

  /**
   * Whether the replica has most likely not applied the session's write yet: the write is
   * younger than the time this replica usually takes to apply one. Then the read goes to the
   * primary at once instead of waiting on the replica (a wait costs the replication delay; the
   * primary costs one round trip). One prediction in EXPLORE_EVERY also sends the wait in the
   * background, off the caller's path, so the estimate follows a replica that got faster.
   */
  private predictBehind(node: Node, want: SqlSession): boolean {
    if (!this.config.causalAdaptive || node.applyDelayMs === 0) return false;
    if (performance.now() - want.writtenAt >= node.applyDelayMs) return false;
    if (++this.predictions % EXPLORE_EVERY === 0) this.probeApplyDelay(node, want);
    return true;
  }

  private probeApplyDelay(node: Node, want: SqlSession): void {
    // A copy: the session may write again before the probe returns.
    const probe = new SqlSession();
    probe.position = want.position;
    probe.writtenAt = want.writtenAt;
    this.waitForPosition(node, probe, this.config.causalWaitTimeoutMs).then(
      () => undefined,
      (error: unknown) => {
        if (isConnectionError(error)) this.eject(node, error);
        else this.logger?.debug({ err: error, node: node.name }, 'apply-delay probe failed');
      },
    );
  }

  private run(
    node: Node,
    method: Method,
    sql: SqlStatement,
    values: unknown,
    target: CallbackQueryable = node.core,
  ): Promise<Result> {
    const metrics = node.metrics;
    if (metrics === undefined) return sendCore(target, method, sql, values);
    return this.runMeasured(metrics, method, sql, values, target);
  }

  private async runMeasured(
    metrics: NodeMetrics,
    method: Method,
    sql: SqlStatement,
    values: unknown,
    target: CallbackQueryable,
  ): Promise<Result> {
    const started = performance.now();
    try {
      const result = await sendCore(target, method, sql, values);
      metrics.ok.inc();
      return result;
    } catch (error) {
      metrics.failed.inc();
      throw error;
    } finally {
      metrics.duration.observe((performance.now() - started) / 1000);
    }
  }

  /** Records the GTID a write produced, from the OK packet's session-tracking data. */
  private async noteWrite(result: unknown, context: SqlSession | undefined): Promise<void> {
    if (context === undefined && this.config.causalMode !== 'global') return;
    if (typeof result !== 'object' || result === null || Array.isArray(result)) return;
    const header = result as WriteHeader & {
      readonly stateChanges?: {
        readonly systemVariables?: Readonly<Record<string, string>>;
      } | null;
    };
    const changes = header.stateChanges;
    let text = changes?.systemVariables?.last_gtid;
    if ((text === undefined || text === '') && changedSomething(header)) {
      // The server sent no tracking data (tracking off or unsupported): ask for the binlog
      // position, which covers this write because it has committed. Rare, and one round trip.
      const [rows] = (await this.run(
        this.primaryNode,
        'query',
        'SELECT @@gtid_binlog_pos AS p',
        undefined,
      )) as [RowDataPacket[], FieldPacket[]];
      text = String(rows[0]?.p ?? '');
    }
    if (text === undefined || text === '') return;
    const position = parseGtid(text);
    const now = performance.now();
    if (context !== undefined) {
      context.position = mergeGtid(context.position, position);
      context.writtenAt = now;
    }
    if (this.config.causalMode === 'global') {
      this.global.position = mergeGtid(this.global.position, position);
      this.global.writtenAt = now;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Health, lag and membership

  private eject(node: Node, error: unknown): void {
    if (node.ejected || node.removed) return;
    node.ejected = true;
    node.goodChecks = 0;
    if (node.role === 'replica') this.rebuildReadPool();
    this.metrics?.ejection(node.name);
    this.logger?.warn({ err: error, node: node.name, role: node.role }, 'SQL node ejected');
    this.emit('eject', { node: node.name, role: node.role, error });
  }

  private onPrimaryError(primary: Node, error: unknown): unknown {
    if (!isConnectionError(error)) return error;
    this.eject(primary, error);
    return this.primaryDown(error);
  }

  private primaryDown(cause: unknown): SqlPrimaryUnavailableError {
    return new SqlPrimaryUnavailableError(
      `the SQL primary ${this.primaryNode.name} is unavailable; writes fail until a health check reaches it`,
      cause === undefined ? {} : { cause },
    );
  }

  private rebuildReadPool(): void {
    this.readable = this.replicaNodes.filter((n) => !n.ejected && !n.lagging && !n.removed);
    this.totalWeight = this.readable.reduce((sum, n) => sum + n.config.weight, 0);
    const first = this.readable[0]?.config.weight;
    this.uniformWeights = this.readable.every((n) => n.config.weight === first);
  }

  private schedulePoll(delayMs: number): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        this.schedulePoll(this.config.healthIntervalMs);
      });
    }, delayMs);
    // The poller alone must not keep a process alive that has nothing else to do.
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** One round: every node's GTID position, which is also its health check. */
  private async pollOnce(): Promise<void> {
    const primary = this.primaryNode;
    const replicas = this.replicaNodes;
    const positionSql = 'SELECT @@gtid_binlog_pos AS p';
    const replicaSql = 'SELECT @@gtid_slave_pos AS p';
    const poll = async (node: Node, sql: string): Promise<GtidPosition | undefined> => {
      try {
        const [rows] = await node.pool.query<RowDataPacket[]>({
          sql,
          timeout: this.config.healthTimeoutMs,
        });
        return parseGtid(String(rows[0]?.p ?? ''));
      } catch (error) {
        node.goodChecks = 0;
        this.eject(node, error);
        return undefined;
      }
    };
    const [primaryPosition, ...replicaPositions] = await Promise.all([
      poll(primary, positionSql),
      ...replicas.map((r) => poll(r, replicaSql)),
    ]);
    const now = performance.now();
    if (primaryPosition !== undefined) {
      this.checkPassed(primary);
      primary.position = mergeGtid(primary.position, primaryPosition);
      this.lag.record(primaryPosition, now);
      if (
        this.config.causalMode === 'global' &&
        !gtidCovers(this.global.position, primaryPosition)
      ) {
        // A write by another process: its commit time is unknown, so it counts as just now.
        this.global.position = mergeGtid(this.global.position, primaryPosition);
        this.global.writtenAt = now;
      }
    }
    let changed = false;
    for (const [i, node] of replicas.entries()) {
      const position = replicaPositions[i];
      if (position === undefined || node.removed) continue;
      node.position = mergeGtid(node.position, position);
      node.lagMs = this.lag.lagOf(node.position, now);
      if (this.updateLag(node)) changed = true;
      if (this.checkPassed(node)) changed = true;
    }
    if (changed) this.rebuildReadPool();
    this.lag.trim(this.replicaNodes.filter((n) => !n.ejected).map((n) => n.position));
  }

  /** Counts a successful check; rejoins an ejected node after enough in a row. */
  private checkPassed(node: Node): boolean {
    if (!node.ejected) return false;
    node.goodChecks++;
    if (node.goodChecks < this.config.rejoinAfter) return false;
    node.ejected = false;
    node.goodChecks = 0;
    this.logger?.info({ node: node.name, role: node.role }, 'SQL node rejoined');
    this.emit('rejoin', { node: node.name, role: node.role });
    return true;
  }

  /** Leaves the read pool above maxLagMs; returns below rejoinLagMs for rejoinAfterPolls polls. */
  private updateLag(node: Node): boolean {
    if (!node.lagging) {
      if (node.lagMs <= this.config.maxLagMs) return false;
      node.lagging = true;
      node.goodLagPolls = 0;
      this.logger?.warn(
        { node: node.name, lagMs: node.lagMs },
        'SQL replica left the read pool: lagging',
      );
      this.emit('lag', { node: node.name, lagMs: node.lagMs, inPool: false });
      return true;
    }
    if (node.lagMs > this.config.rejoinLagMs) {
      node.goodLagPolls = 0;
      return false;
    }
    node.goodLagPolls++;
    if (node.goodLagPolls < this.config.rejoinAfterPolls) return false;
    node.lagging = false;
    this.logger?.info({ node: node.name, lagMs: node.lagMs }, 'SQL replica caught up');
    this.emit('lag', { node: node.name, lagMs: node.lagMs, inPool: true });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Pools

  private openNode(config: ResolvedNode, role: SqlRole): Node {
    const pool = createPool({ ...this.config.pool, ...config.options });
    const node: Node = {
      config,
      name: config.name,
      role,
      pool,
      core: coreOf(pool),
      causal: undefined,
      metrics: this.metrics?.node(config.name, role),
      ejected: false,
      lagging: false,
      removed: false,
      position: emptyGtidPosition(),
      lagMs: 0,
      applyDelayMs: 0,
      goodChecks: 0,
      goodLagPolls: 0,
      leased: 0,
    };
    const core = pool.pool;
    if (role === 'primary' && this.trackWrites) {
      // Every OK packet then carries the GTID of the write: causal reads need no extra query.
      const track = "SET SESSION session_track_system_variables = 'last_gtid'";
      core.on('connection', (connection) => {
        // Queued before the statement that asked for this connection, so it runs first; a failure
        // only costs the optimisation (noteWrite falls back to a query).
        connection.query(track, (error: unknown) => {
          if (error !== null && error !== undefined) {
            this.logger?.warn({ err: error, node: node.name }, 'session tracking unavailable');
          }
        });
      });
    }
    core.on('acquire', () => {
      node.leased++;
    });
    core.on('release', () => {
      node.leased--;
    });
    return node;
  }

  /** Takes a node out of service and closes its pool once nothing is leased from it. */
  private retire(node: Node): void {
    node.removed = true;
    const drain = (async () => {
      const deadline = performance.now() + this.config.drainTimeoutMs;
      while (inUse(node.pool, node.leased) > 0 && performance.now() < deadline && !this.closed)
        await sleep(20);
      await this.endPool(node);
      if (this.metrics !== undefined) this.metrics.removeNode(node.name, node.role);
    })();
    this.draining.add(drain);
    void drain.finally(() => this.draining.delete(drain));
  }

  private async endPool(node: Node): Promise<void> {
    try {
      await Promise.all([node.pool.end(), node.causal?.end()]);
    } catch (error) {
      // Ending a pool whose server is gone fails on the QUIT packet; the sockets are closed
      // either way, which is all ending is for.
      this.logger?.debug({ err: error, node: node.name }, 'SQL pool end failed');
    }
  }

  private allNodes(): Node[] {
    return [this.primaryNode, ...this.replicaNodes];
  }

  private *nodeIterable(): Generator<SqlNodeStatus> {
    for (const node of this.allNodes()) {
      yield {
        name: node.name,
        role: node.role,
        label: node.config.label,
        weight: node.config.weight,
        inPool: !node.ejected && !node.lagging && !node.removed,
        ejected: node.ejected,
        lagging: node.lagging,
        lagMs: node.lagMs,
        position: formatGtid(node.position),
      };
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SqlRouterClosedError();
  }
}

/** Creates a router; see `SqlRouterOptions`. */
export function createSqlRouter(options: SqlRouterOptions): SqlRouter {
  return new SqlRouter(options);
}
