import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@switchboard/runtime';
import { createPool, type Pool } from 'mysql2/promise';
import type { ResolvedNode, ResolvedSqlRouterConfig } from './config.js';
import { emptyGtidPosition, formatGtid, type GtidPosition } from './gtid.js';
import type { NodeMetrics, SqlMetrics } from './metrics.js';
import {
  coreOf,
  inUse,
  sendCore,
  type CallbackQueryable,
  type Method,
  type Result,
  type SqlStatement,
} from './pool.js';
import type { SqlNodeStatus, SqlRole } from './types.js';

/** One server of the topology: its pools and everything the router has learnt about it. */
export interface Node {
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

export interface OpenNodeDeps {
  readonly config: ResolvedSqlRouterConfig;
  readonly metrics: SqlMetrics | undefined;
  readonly logger: Logger | undefined;
  /** Whether the primary's connections turn on GTID session tracking. */
  readonly trackWrites: boolean;
}

export function openNode(config: ResolvedNode, role: SqlRole, deps: OpenNodeDeps): Node {
  const pool = createPool({ ...deps.config.pool, ...config.options });
  const node: Node = {
    config,
    name: config.name,
    role,
    pool,
    core: coreOf(pool),
    causal: undefined,
    metrics: deps.metrics?.node(config.name, role),
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
  if (role === 'primary' && deps.trackWrites) {
    // Every OK packet then carries the GTID of the write: causal reads need no extra query.
    const track = "SET SESSION session_track_system_variables = 'last_gtid'";
    const logger = deps.logger;
    core.on('connection', (connection) => {
      // Queued before the statement that asked for this connection, so it runs first; a failure
      // only costs the optimisation (noteWrite falls back to a query).
      connection.query(track, (error: unknown) => {
        if (error !== null && error !== undefined) {
          logger?.warn({ err: error, node: node.name }, 'session tracking unavailable');
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

/** Sends one statement to `node` (or to `target`, one of its pools), measured when metrics are on. */
export function run(
  node: Node,
  method: Method,
  sql: SqlStatement,
  values: unknown,
  target: CallbackQueryable = node.core,
): Promise<Result> {
  const metrics = node.metrics;
  if (metrics === undefined) return sendCore(target, method, sql, values);
  return runMeasured(metrics, method, sql, values, target);
}

async function runMeasured(
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

export async function endPool(node: Node, logger: Logger | undefined): Promise<void> {
  try {
    await Promise.all([node.pool.end(), node.causal?.end()]);
  } catch (error) {
    // Ending a pool whose server is gone fails on the QUIT packet; the sockets are closed
    // either way, which is all ending is for.
    logger?.debug({ err: error, node: node.name }, 'SQL pool end failed');
  }
}

/**
 * Ends a node's pools once nothing is leased from them, or after `timeoutMs`, or at once when
 * the router closes (its own close ends them).
 */
export async function drainAndEnd(
  node: Node,
  timeoutMs: number,
  closed: () => boolean,
  logger: Logger | undefined,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (inUse(node.pool, node.leased) > 0 && performance.now() < deadline && !closed())
    await sleep(20);
  await endPool(node, logger);
}

export function statusOf(node: Node): SqlNodeStatus {
  return {
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
