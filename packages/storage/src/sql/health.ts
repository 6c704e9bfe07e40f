import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@switchboard/runtime';
import type { RowDataPacket } from 'mysql2/promise';
import type { CausalReads } from './causal.js';
import type { ResolvedSqlRouterConfig } from './config.js';
import { SqlPrimaryUnavailableError, isConnectionError } from './errors.js';
import { mergeGtid, parseGtid, type GtidPosition } from './gtid.js';
import { LagClock } from './lag.js';
import type { Membership } from './membership.js';
import type { SqlMetrics } from './metrics.js';
import type { Node } from './node.js';
import type { SqlRouterEvents } from './types.js';

export interface HealthMonitorDeps {
  readonly config: ResolvedSqlRouterConfig;
  readonly members: Membership;
  readonly causal: CausalReads;
  /** Where `eject`, `rejoin` and `lag` events go: the router itself. */
  readonly events: EventEmitter<SqlRouterEvents>;
  readonly metrics: SqlMetrics | undefined;
  readonly logger: Logger | undefined;
}

/**
 * Node health and lag: a poller that reads every node's GTID position (which is also its health
 * check), ejects nodes that fail, rejoins them after enough good checks, and moves replicas out
 * of and back into the read pool as their lag crosses the limits.
 */
export class HealthMonitor {
  private readonly lag = new LagClock();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private readonly config: ResolvedSqlRouterConfig;
  private readonly members: Membership;
  private readonly causal: CausalReads;
  private readonly events: EventEmitter<SqlRouterEvents>;
  private readonly metrics: SqlMetrics | undefined;
  private readonly logger: Logger | undefined;

  constructor(deps: HealthMonitorDeps) {
    this.config = deps.config;
    this.members = deps.members;
    this.causal = deps.causal;
    this.events = deps.events;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
  }

  /** Starts polling: the first round at once, then every `healthIntervalMs`. */
  start(): void {
    this.schedulePoll(0);
  }

  /** Stops polling; a round in progress finishes (see `inFlight`) and schedules no other. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The round in progress, if any. */
  inFlight(): Promise<void> | undefined {
    return this.polling;
  }

  /** Waits for the round in progress, or runs one. */
  refresh(): Promise<void> {
    return this.polling ?? this.pollOnce();
  }

  eject(node: Node, error: unknown): void {
    if (node.ejected || node.removed) return;
    node.ejected = true;
    node.goodChecks = 0;
    if (node.role === 'replica') this.members.rebuild();
    this.metrics?.ejection(node.name);
    this.logger?.warn({ err: error, node: node.name, role: node.role }, 'SQL node ejected');
    this.events.emit('eject', { node: node.name, role: node.role, error });
  }

  /** The error a primary failure becomes: a connection error ejects it and means it is down. */
  onPrimaryError(primary: Node, error: unknown): unknown {
    if (!isConnectionError(error)) return error;
    this.eject(primary, error);
    return this.primaryDown(error);
  }

  primaryDown(cause: unknown): SqlPrimaryUnavailableError {
    return new SqlPrimaryUnavailableError(
      `the SQL primary ${this.members.primary.name} is unavailable; writes fail until a health check reaches it`,
      cause === undefined ? {} : { cause },
    );
  }

  private schedulePoll(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        this.schedulePoll(this.config.healthIntervalMs);
      });
    }, delayMs);
    // The poller alone must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  /** One round: every node's GTID position, which is also its health check. */
  private async pollOnce(): Promise<void> {
    const primary = this.members.primary;
    const replicas = this.members.replicas;
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
      this.causal.observePrimary(primaryPosition, now);
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
    if (changed) this.members.rebuild();
    this.lag.trim(this.members.replicas.filter((n) => !n.ejected).map((n) => n.position));
  }

  /** Counts a successful check; rejoins an ejected node after enough in a row. */
  private checkPassed(node: Node): boolean {
    if (!node.ejected) return false;
    node.goodChecks++;
    if (node.goodChecks < this.config.rejoinAfter) return false;
    node.ejected = false;
    node.goodChecks = 0;
    this.logger?.info({ node: node.name, role: node.role }, 'SQL node rejoined');
    this.events.emit('rejoin', { node: node.name, role: node.role });
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
      this.events.emit('lag', { node: node.name, lagMs: node.lagMs, inPool: false });
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
    this.events.emit('lag', { node: node.name, lagMs: node.lagMs, inPool: true });
    return true;
  }
}
