import { ConfigError, Secret } from '@switchboard/runtime';
import { integerOption, OptionIssues } from '../options.js';

/**
 * `createSearch`'s configuration. `node` is the daemons' `search.node` (one URL or several);
 * everything else has a default in `searchDefaults`. Passwords and API keys may be given as
 * strings, but are held as `Secret`s from here on, so no log or error ever shows them.
 */
export interface SearchConfig {
  /** `http(s)://host:port` of one node or several. Required unless a `client` is injected. */
  readonly node?: string | readonly string[] | undefined;
  /** An API key (the base64 `id:api_key` form) or a user name and password. */
  readonly auth?: SearchAuthConfig | undefined;
  /** Every index, alias and template name starts `<indexPrefix>-` (default `switchboard`). */
  readonly indexPrefix?: string | undefined;
  /** Shards of each new index (default: the cluster's default). */
  readonly numberOfShards?: number | undefined;
  /** Replicas of each new index (default: the cluster's default). */
  readonly numberOfReplicas?: number | undefined;
  readonly bulk?: SearchBulkConfig | undefined;
  readonly retry?: SearchRetryConfig | undefined;
  /** Per-request deadline (default 30000 ms). */
  readonly requestTimeoutMs?: number | undefined;
  /** How long a point in time stays open between two pages (default 60 s). */
  readonly pointInTimeKeepAliveSeconds?: number | undefined;
  /** Gzip request bodies (default false). */
  readonly compression?: boolean | undefined;
}

export type SearchAuthConfig =
  | { readonly apiKey: Secret | string }
  | { readonly username: string; readonly password: Secret | string };

export interface SearchBulkConfig {
  /**
   * Bytes of NDJSON buffered or sent and not yet settled (retries included). `add()` waits while
   * a document would take it past this bound. Default 16 MiB.
   */
  readonly maxBytesInFlight?: number | undefined;
  /** A batch is sent when its NDJSON reaches this size (default 5 MiB). */
  readonly flushBytes?: number | undefined;
  /** … or this many documents (default 1000). */
  readonly flushDocs?: number | undefined;
  /** … or this long after its first document (default 1000 ms). */
  readonly flushIntervalMs?: number | undefined;
  /** Bulk requests in flight at once (default 2). */
  readonly concurrency?: number | undefined;
}

export interface SearchRetryConfig {
  /** Attempts per document, the first included, on 429 and 5xx (default 5). */
  readonly maxAttempts?: number | undefined;
  /** Backoff before the second attempt; doubled each time, with full jitter (default 100 ms). */
  readonly baseDelayMs?: number | undefined;
  /** The longest backoff (default 10000 ms). */
  readonly maxDelayMs?: number | undefined;
  /** The client's own retries of one request on connection errors and 502/503/504 (default 2). */
  readonly requestRetries?: number | undefined;
}

export interface ResolvedSearchConfig {
  readonly nodes: readonly string[];
  readonly auth:
    | { readonly apiKey: Secret }
    | { readonly username: string; readonly password: Secret }
    | undefined;
  readonly indexPrefix: string;
  readonly numberOfShards: number | undefined;
  readonly numberOfReplicas: number | undefined;
  readonly bulk: Readonly<Required<{ [K in keyof SearchBulkConfig]: number }>>;
  readonly retry: Readonly<Required<{ [K in keyof SearchRetryConfig]: number }>>;
  readonly requestTimeoutMs: number;
  readonly pointInTimeKeepAliveSeconds: number;
  readonly compression: boolean;
}

const MiB = 1024 * 1024;

/** Every default, in one place. */
export const searchDefaults = Object.freeze({
  indexPrefix: 'switchboard',
  bulk: Object.freeze({
    maxBytesInFlight: 16 * MiB,
    flushBytes: 5 * MiB,
    flushDocs: 1000,
    flushIntervalMs: 1000,
    concurrency: 2,
  }),
  retry: Object.freeze({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 10_000, requestRetries: 2 }),
  requestTimeoutMs: 30_000,
  pointInTimeKeepAliveSeconds: 60,
  compression: false,
} as const);

function optionalInteger(
  issues: OptionIssues,
  path: string,
  value: unknown,
  min: number,
  max: number,
): number | undefined {
  return value === undefined ? undefined : integerOption(issues, path, value, min, min, max);
}

function secret(issues: OptionIssues, path: string, value: unknown): Secret | undefined {
  if (value instanceof Secret) return value;
  if (typeof value === 'string' && value.length > 0) return new Secret(value);
  issues.add(path, 'expected a non-empty string or Secret', value, true);
  return undefined;
}

function nodes(issues: OptionIssues, value: unknown, required: boolean): string[] {
  if (value === undefined) {
    if (required) issues.add('node', 'is required (or inject a client)');
    return [];
  }
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) issues.add('node', 'expected at least one URL', value);
  const out: string[] = [];
  list.forEach((entry, i) => {
    const path = Array.isArray(value) ? `node[${i}]` : 'node';
    if (typeof entry !== 'string' || !/^https?:\/\/[^/\s]/.test(entry)) {
      issues.add(path, 'expected an http(s) URL', typeof entry === 'string' ? '[url]' : entry);
      return;
    }
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      issues.add(path, 'expected an http(s) URL', '[unparsable url]');
      return;
    }
    if (url.password !== '') {
      // A password inside the URL would end up in every error message the client builds.
      issues.add(path, 'must not hold credentials: use search.auth', '[redacted]', true);
      return;
    }
    out.push(entry);
  });
  return out;
}

function auth(issues: OptionIssues, value: unknown): ResolvedSearchConfig['auth'] {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    issues.add('auth', 'expected { apiKey } or { username, password }', '[redacted]', true);
    return undefined;
  }
  if ('apiKey' in value) {
    const apiKey = secret(issues, 'auth.apiKey', value.apiKey);
    return apiKey === undefined ? undefined : Object.freeze({ apiKey });
  }
  const { username, password } = value as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || username === '') {
    issues.add('auth.username', 'expected a non-empty string', username);
  }
  const pass = secret(issues, 'auth.password', password);
  return typeof username === 'string' && pass !== undefined
    ? Object.freeze({ username, password: pass })
    : undefined;
}

/**
 * Validates the configuration once and returns a frozen, fully defaulted copy. Every bad field is
 * named in one `ConfigError` (`SWB_CONFIG_INVALID`), as `search.<field>`; secrets are never
 * quoted. `nodeRequired` is false when the caller injects its own client.
 */
export function resolveSearchConfig(
  config: SearchConfig,
  options: { readonly nodeRequired?: boolean } = {},
): ResolvedSearchConfig {
  const issues = new OptionIssues('search');
  if (typeof config !== 'object' || (config as unknown) === null) {
    issues.add('node', 'expected a configuration object');
    throw new ConfigError(issues.list);
  }
  const prefix = (config.indexPrefix as unknown) ?? searchDefaults.indexPrefix;
  if (typeof prefix !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,99}$/.test(prefix)) {
    issues.add('indexPrefix', 'expected 1–100 of [a-z0-9_-], not starting with - or _', prefix);
  }
  const bulkIn: SearchBulkConfig = config.bulk ?? {};
  const retryIn: SearchRetryConfig = config.retry ?? {};
  const d = searchDefaults;
  const flushBytes = integerOption(
    issues,
    'bulk.flushBytes',
    bulkIn.flushBytes,
    d.bulk.flushBytes,
    1,
    100 * MiB,
  );
  const bulk = Object.freeze({
    flushBytes,
    maxBytesInFlight: integerOption(
      issues,
      'bulk.maxBytesInFlight',
      bulkIn.maxBytesInFlight,
      Math.max(d.bulk.maxBytesInFlight, flushBytes),
      flushBytes,
      1024 * MiB,
    ),
    flushDocs: integerOption(
      issues,
      'bulk.flushDocs',
      bulkIn.flushDocs,
      d.bulk.flushDocs,
      1,
      100_000,
    ),
    flushIntervalMs: integerOption(
      issues,
      'bulk.flushIntervalMs',
      bulkIn.flushIntervalMs,
      d.bulk.flushIntervalMs,
      1,
      3_600_000,
    ),
    concurrency: integerOption(
      issues,
      'bulk.concurrency',
      bulkIn.concurrency,
      d.bulk.concurrency,
      1,
      64,
    ),
  });
  const baseDelayMs = integerOption(
    issues,
    'retry.baseDelayMs',
    retryIn.baseDelayMs,
    d.retry.baseDelayMs,
    0,
    600_000,
  );
  const retry = Object.freeze({
    maxAttempts: integerOption(
      issues,
      'retry.maxAttempts',
      retryIn.maxAttempts,
      d.retry.maxAttempts,
      1,
      100,
    ),
    baseDelayMs,
    maxDelayMs: integerOption(
      issues,
      'retry.maxDelayMs',
      retryIn.maxDelayMs,
      Math.max(d.retry.maxDelayMs, baseDelayMs),
      baseDelayMs,
      3_600_000,
    ),
    requestRetries: integerOption(
      issues,
      'retry.requestRetries',
      retryIn.requestRetries,
      d.retry.requestRetries,
      0,
      20,
    ),
  });
  const compression = (config.compression as unknown) ?? d.compression;
  if (typeof compression !== 'boolean')
    issues.add('compression', 'expected a boolean', compression);
  const resolved: ResolvedSearchConfig = {
    nodes: Object.freeze(nodes(issues, config.node, options.nodeRequired ?? true)),
    auth: auth(issues, config.auth),
    indexPrefix: typeof prefix === 'string' ? prefix : d.indexPrefix,
    numberOfShards: optionalInteger(issues, 'numberOfShards', config.numberOfShards, 1, 1024),
    numberOfReplicas: optionalInteger(issues, 'numberOfReplicas', config.numberOfReplicas, 0, 32),
    bulk,
    retry,
    requestTimeoutMs: integerOption(
      issues,
      'requestTimeoutMs',
      config.requestTimeoutMs,
      d.requestTimeoutMs,
      1,
      3_600_000,
    ),
    pointInTimeKeepAliveSeconds: integerOption(
      issues,
      'pointInTimeKeepAliveSeconds',
      config.pointInTimeKeepAliveSeconds,
      d.pointInTimeKeepAliveSeconds,
      1,
      86_400,
    ),
    compression: compression === true,
  };
  if (issues.list.length > 0) throw new ConfigError(issues.list);
  return Object.freeze(resolved);
}
