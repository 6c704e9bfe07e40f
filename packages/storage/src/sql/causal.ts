import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@switchboard/runtime';
import { createPool, type FieldPacket, type QueryResult, type RowDataPacket } from 'mysql2/promise';
import { StatementRoute } from './classify.js';
import type { ResolvedSqlRouterConfig } from './config.js';
import { SqlCausalTimeoutError, isConnectionError } from './errors.js';
import { formatGtid, gtidCovers, mergeGtid, parseGtid, type GtidPosition } from './gtid.js';
import type { Membership } from './membership.js';
import type { SqlMetrics } from './metrics.js';
import { run, type Node } from './node.js';
import {
  changedSomething,
  coreOf,
  type Method,
  type Result,
  type SqlStatement,
  type WriteHeader,
} from './pool.js';
import { SqlSession } from './types.js';

const EXPLORE_EVERY = 8;

export interface CausalReadsDeps {
  readonly config: ResolvedSqlRouterConfig;
  readonly members: Membership;
  readonly classify: (sql: string) => StatementRoute;
  readonly metrics: SqlMetrics | undefined;
  readonly logger: Logger | undefined;
  /** Called when a wait finds a replica unreachable. */
  readonly eject: (node: Node, error: unknown) => void;
}

/**
 * The causal-read decisions: which write a read must see, whether a replica has applied it (or
 * most likely has not), and the GTID waits that find out. It owns the causal contexts (the
 * AsyncLocalStorage scope and, in `global` mode, the router-wide position); the router decides
 * where the read goes with its answers.
 */
export class CausalReads {
  /** In `global` mode, the newest write the router knows of, from any context. */
  private readonly global = new SqlSession();
  /** Counts predictions, so one in `EXPLORE_EVERY` also probes the replica in the background. */
  private predictions = 0;
  private readonly als = new AsyncLocalStorage<SqlSession>();
  private readonly config: ResolvedSqlRouterConfig;
  private readonly members: Membership;
  private readonly classify: (sql: string) => StatementRoute;
  private readonly metrics: SqlMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly eject: (node: Node, error: unknown) => void;

  constructor(deps: CausalReadsDeps) {
    this.config = deps.config;
    this.members = deps.members;
    this.classify = deps.classify;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.eject = deps.eject;
  }

  withContext<T>(fn: () => T, session: SqlSession): T {
    return this.als.run(session, fn);
  }

  contextOf(explicit: SqlSession | undefined): SqlSession | undefined {
    return explicit ?? this.als.getStore();
  }

  /** The session whose last write a read must see, or undefined when it may go anywhere. */
  requiredPosition(explicit: SqlSession | undefined): SqlSession | undefined {
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

  /** The primary's position from a health poll: in `global` mode, a write by anyone. */
  observePrimary(position: GtidPosition, now: number): void {
    if (this.config.causalMode === 'global' && !gtidCovers(this.global.position, position)) {
      // A write by another process: its commit time is unknown, so it counts as just now.
      this.global.position = mergeGtid(this.global.position, position);
      this.global.writtenAt = now;
    }
  }

  /** Records the GTID a write produced, from the OK packet's session-tracking data. */
  async noteWrite(result: unknown, context: SqlSession | undefined): Promise<void> {
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
      const [rows] = (await run(
        this.members.primary,
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

  /**
   * Whether the replica has most likely not applied the session's write yet: the write is
   * younger than the time this replica usually takes to apply one. Then the read goes to the
   * primary at once instead of waiting on the replica (a wait costs the replication delay; the
   * primary costs one round trip). One prediction in EXPLORE_EVERY also sends the wait in the
   * background, off the caller's path, so the estimate follows a replica that got faster.
   */
  predictBehind(node: Node, want: SqlSession): boolean {
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

  /**
   * A causal read whose session the replicas have not caught up with, while the primary is down:
   * with `onPrimaryDown: 'wait'`, the first replica to apply the write within
   * `primaryDownWaitMs` serves it; otherwise it fails with a causal timeout.
   */
  async readWhilePrimaryDown(
    method: Method,
    sql: SqlStatement,
    values: unknown,
    want: SqlSession,
    cause: unknown,
  ): Promise<Result> {
    if (this.config.onPrimaryDown === 'wait') {
      for (const node of this.members.readable) {
        try {
          if (await this.waitForPosition(node, want, this.config.primaryDownWaitMs)) {
            this.metrics?.causal('waited');
            return await run(node, method, sql, values);
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

  /**
   * Whether the GTID wait and the read can travel as one multi-statement: a text-protocol query
   * with positional values whose text the classifier proves is a single read-only statement (so
   * a caller's `read('…; DROP …')` never reaches the multi-statement pool).
   */
  canCombine(method: Method, sql: SqlStatement, values: unknown): boolean {
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
  async waitAndRead(
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
    const [results, fields] = await run(
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
  async waitForPosition(node: Node, want: SqlSession, timeoutMs: number): Promise<boolean> {
    const seconds = timeoutMs / 1000;
    const gtid = formatGtid(want.position);
    const sql = 'SELECT MASTER_GTID_WAIT(?, ?) AS w';
    const [rows] = (await run(node, 'query', sql, [gtid, seconds])) as [
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
}
