import type { Logger, Registry } from '@switchboard/runtime';
import { redactUri } from '@switchboard/runtime';
import type { PoolOptions } from 'mysql2';
import { SqlConfigError } from './errors.js';

/** How reads follow writes. */
export const CausalMode = {
  /** No tracking: a read may go to a replica that has not applied the caller's write yet. */
  None: 'none',
  /** A read waits for the last write of its context (an object passed in, or an AsyncLocalStorage scope). */
  Session: 'session',
  /** A read waits for the newest write the router knows of, from any context. */
  Global: 'global',
} as const;
export type CausalMode = (typeof CausalMode)[keyof typeof CausalMode];

/** One server: a URI like the daemons' `sql.primary`, or explicit mysql2 options, or both (options win). */
export interface SqlNodeConfig {
  readonly uri?: string;
  readonly connection?: PoolOptions;
  /** Metric label and event name; default `host:port`. Unique within the topology. */
  readonly name?: string;
  /** Share of the reads a replica gets relative to the others; default 1. Ignored on the primary. */
  readonly weight?: number;
}
export type SqlNodeInput = string | SqlNodeConfig;

/** Which servers the router talks to; `setTopology` takes the same shape. */
export interface SqlTopology {
  readonly primary: SqlNodeInput;
  readonly replicas?: readonly SqlNodeInput[];
}

export interface SqlRouterOptions extends SqlTopology {
  /** mysql2 pool options shared by every node (e.g. `connectionLimit`); a node's own options win. */
  readonly pool?: PoolOptions;
  readonly causal?: {
    /** Default `session`. */
    readonly mode?: CausalMode;
    /** Bound on MASTER_GTID_WAIT on a replica before the read goes to the primary; default 50 ms. */
    readonly waitTimeoutMs?: number;
    /**
     * When a causal read needs the primary and the primary is down: `fail` at once with
     * SWB_SQL_CAUSAL_TIMEOUT, or `wait` up to `primaryDownWaitMs` for a replica to catch up.
     * Default `fail`.
     */
    readonly onPrimaryDown?: 'fail' | 'wait';
    /** Default 2000 ms. */
    readonly primaryDownWaitMs?: number;
    /**
     * Send a read straight to the primary when its write is younger than the time the replica
     * usually takes to apply one (learnt from past waits), instead of waiting on the replica.
     * Default true; false always waits first.
     */
    readonly adaptive?: boolean;
  };
  /** When no replica can serve a read, serve it from the primary; default true. */
  readonly fallbackToPrimary?: boolean;
  readonly health?: {
    /** How often each node's position is polled (also the health check of ejected nodes); default 500 ms. */
    readonly intervalMs?: number;
    /** Bound on one poll query; default 1000 ms. */
    readonly timeoutMs?: number;
    /** Consecutive successful checks before an ejected node rejoins; default 2. */
    readonly rejoinAfter?: number;
  };
  readonly lag?: {
    /** A replica further behind than this leaves the read pool; default 5000 ms. */
    readonly maxLagMs?: number;
    /** It returns once at most this far behind (hysteresis); default maxLagMs / 2. */
    readonly rejoinLagMs?: number;
    /** …for this many consecutive polls; default 2. */
    readonly rejoinAfterPolls?: number;
  };
  /** How long a removed node's pool may take to finish its in-flight work; default 30 s. */
  readonly drainTimeoutMs?: number;
  /** Where the router's metrics go; none when absent. Never prom-client's global registry. */
  readonly registry?: Registry;
  /** Ejections, rejoins, lag changes and warnings; none when absent. */
  readonly logger?: Logger;
}

export interface ResolvedNode {
  readonly name: string;
  /** `mysql://user:***@host:port/db`, safe to log. */
  readonly label: string;
  readonly weight: number;
  readonly options: PoolOptions;
  /** Identity of the connection settings, to tell a replaced node from an unchanged one. */
  readonly fingerprint: string;
}

export interface ResolvedTopology {
  readonly primary: ResolvedNode;
  readonly replicas: readonly ResolvedNode[];
  readonly warnings: readonly string[];
}

export interface ResolvedSqlRouterConfig {
  readonly topology: ResolvedTopology;
  readonly pool: PoolOptions;
  readonly causalMode: CausalMode;
  readonly causalWaitTimeoutMs: number;
  readonly onPrimaryDown: 'fail' | 'wait';
  readonly primaryDownWaitMs: number;
  readonly causalAdaptive: boolean;
  readonly fallbackToPrimary: boolean;
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
  readonly rejoinAfter: number;
  readonly maxLagMs: number;
  readonly rejoinLagMs: number;
  readonly rejoinAfterPolls: number;
  readonly drainTimeoutMs: number;
}

/** Above this many replicas, the seed says, more rarely helps. */
export const REPLICA_WARNING_THRESHOLD = 4;

const defaults = {
  causalMode: CausalMode.Session,
  causalWaitTimeoutMs: 50,
  onPrimaryDown: 'fail',
  primaryDownWaitMs: 2000,
  fallbackToPrimary: true,
  healthIntervalMs: 500,
  healthTimeoutMs: 1000,
  rejoinAfter: 2,
  maxLagMs: 5000,
  rejoinAfterPolls: 2,
  drainTimeoutMs: 30_000,
  connectionLimit: 10,
} as const;

function positiveNumber(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SqlConfigError(field, `expected a number > 0, got ${String(value)}`);
  }
  return value;
}

function positiveInteger(field: string, value: number | undefined, fallback: number): number {
  const n = positiveNumber(field, value, fallback);
  if (!Number.isInteger(n)) throw new SqlConfigError(field, `expected an integer, got ${n}`);
  return n;
}

function oneOf<T extends string>(
  field: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new SqlConfigError(
      field,
      `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function optionsFromUri(field: string, uri: string): PoolOptions {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new SqlConfigError(field, `not a valid URI: ${redactUri(uri)}`);
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new SqlConfigError(field, `expected a mysql: or mariadb: URI, got ${url.protocol}`);
  }
  if (url.hostname === '') throw new SqlConfigError(field, 'the URI has no host');
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    ...(database === '' ? {} : { database }),
  };
}

function labelOf(options: PoolOptions): string {
  const user =
    options.user === undefined || options.user === ''
      ? ''
      : `${options.user}${options.password ? ':***' : ''}@`;
  const db = options.database === undefined ? '' : `/${options.database}`;
  return `mysql://${user}${options.host ?? 'localhost'}:${options.port ?? 3306}${db}`;
}

function resolveNode(
  field: string,
  input: SqlNodeInput,
  role: 'primary' | 'replica',
): ResolvedNode {
  const node: SqlNodeConfig = typeof input === 'string' ? { uri: input } : input;
  if (typeof node !== 'object' || (node.uri === undefined && node.connection === undefined)) {
    throw new SqlConfigError(
      field,
      'expected a URI or { uri?, connection? } with at least one of them',
    );
  }
  const options: PoolOptions = {
    ...(node.uri === undefined ? {} : optionsFromUri(`${field}.uri`, node.uri)),
    ...node.connection,
  };
  if (options.uri !== undefined) {
    throw new SqlConfigError(
      `${field}.connection.uri`,
      'give the URI as `uri`, not inside `connection`',
    );
  }
  const weight = positiveNumber(`${field}.weight`, node.weight, 1);
  if (role === 'primary' && node.weight !== undefined) {
    throw new SqlConfigError(
      `${field}.weight`,
      'the primary takes no weight: it serves reads only as a fallback',
    );
  }
  const name = node.name ?? `${options.host ?? 'localhost'}:${options.port ?? 3306}`;
  if (name === '') throw new SqlConfigError(`${field}.name`, 'must not be empty');
  const fingerprint = JSON.stringify(options, (_key, value: unknown) =>
    typeof value === 'function' ? '[function]' : value,
  );
  return Object.freeze({
    name,
    label: labelOf(options),
    weight,
    options: Object.freeze(options),
    fingerprint,
  });
}

/** Validates a topology; throws SqlConfigError naming the field. */
export function resolveTopology(topology: SqlTopology): ResolvedTopology {
  if (typeof topology !== 'object') throw new SqlConfigError('topology', 'expected an object');
  const primary = resolveNode('primary', topology.primary, 'primary');
  const inputs: readonly SqlNodeInput[] = topology.replicas ?? [];
  const replicas = inputs.map((r, i) => resolveNode(`replicas[${i}]`, r, 'replica'));
  const names = new Set<string>([primary.name]);
  replicas.forEach((replica, i) => {
    if (names.has(replica.name)) {
      throw new SqlConfigError(
        `replicas[${i}].name`,
        `duplicate node name ${JSON.stringify(replica.name)}`,
      );
    }
    names.add(replica.name);
  });
  const warnings =
    replicas.length > REPLICA_WARNING_THRESHOLD
      ? [
          `${replicas.length} replicas: more than ${REPLICA_WARNING_THRESHOLD} rarely helps (each adds load on the primary's binlog)`,
        ]
      : [];
  return Object.freeze({
    primary,
    replicas: Object.freeze(replicas),
    warnings: Object.freeze(warnings),
  });
}

/** Validates every option once, applies the defaults, and freezes the result. */
export function resolveSqlRouterConfig(options: SqlRouterOptions): ResolvedSqlRouterConfig {
  const causal = options.causal ?? {};
  const health = options.health ?? {};
  const lag = options.lag ?? {};
  const maxLagMs = positiveNumber('lag.maxLagMs', lag.maxLagMs, defaults.maxLagMs);
  const rejoinLagMs = positiveNumber('lag.rejoinLagMs', lag.rejoinLagMs, maxLagMs / 2);
  if (rejoinLagMs > maxLagMs) {
    throw new SqlConfigError(
      'lag.rejoinLagMs',
      `must be ≤ lag.maxLagMs (${maxLagMs}), got ${rejoinLagMs}`,
    );
  }
  if (options.fallbackToPrimary !== undefined && typeof options.fallbackToPrimary !== 'boolean') {
    throw new SqlConfigError('fallbackToPrimary', 'expected a boolean');
  }
  return Object.freeze({
    topology: resolveTopology(options),
    pool: Object.freeze({ connectionLimit: defaults.connectionLimit, ...options.pool }),
    causalMode: oneOf(
      'causal.mode',
      causal.mode,
      ['none', 'session', 'global'],
      defaults.causalMode,
    ),
    causalWaitTimeoutMs: positiveNumber(
      'causal.waitTimeoutMs',
      causal.waitTimeoutMs,
      defaults.causalWaitTimeoutMs,
    ),
    onPrimaryDown: oneOf(
      'causal.onPrimaryDown',
      causal.onPrimaryDown,
      ['fail', 'wait'],
      defaults.onPrimaryDown,
    ),
    primaryDownWaitMs: positiveNumber(
      'causal.primaryDownWaitMs',
      causal.primaryDownWaitMs,
      defaults.primaryDownWaitMs,
    ),
    causalAdaptive: causal.adaptive ?? true,
    fallbackToPrimary: options.fallbackToPrimary ?? defaults.fallbackToPrimary,
    healthIntervalMs: positiveNumber(
      'health.intervalMs',
      health.intervalMs,
      defaults.healthIntervalMs,
    ),
    healthTimeoutMs: positiveNumber('health.timeoutMs', health.timeoutMs, defaults.healthTimeoutMs),
    rejoinAfter: positiveInteger('health.rejoinAfter', health.rejoinAfter, defaults.rejoinAfter),
    maxLagMs,
    rejoinLagMs,
    rejoinAfterPolls: positiveInteger(
      'lag.rejoinAfterPolls',
      lag.rejoinAfterPolls,
      defaults.rejoinAfterPolls,
    ),
    drainTimeoutMs: positiveNumber(
      'drainTimeoutMs',
      options.drainTimeoutMs,
      defaults.drainTimeoutMs,
    ),
  });
}
