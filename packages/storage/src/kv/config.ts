import { ConfigError, Secret, tryParseHostPort, type HostPort } from '@switchboard/runtime';
import { integerOption, oneOfOption, OptionIssues } from '../options.js';

/** Where reads go: the primary of each slot, or one of its replicas (may be stale). */
export type KvReadFrom = 'primary' | 'replica';

/**
 * `createKv`'s configuration. A superset of the daemons' `kv` config (`{ nodes }`, from the
 * runtime's `kvConfigSchema()`), so a daemon passes its loaded config straight in.
 */
export interface KvConfig {
  /** Seed nodes, `host:port` (`[v6]:port`); in cluster mode any live node will do. */
  readonly nodes: readonly string[];
  /** `cluster` (default): a Redis Cluster. `standalone`: one Redis server, the first node. */
  readonly mode?: 'cluster' | 'standalone' | undefined;
  /** ACL user name; omit for the default user. */
  readonly username?: string | undefined;
  /** `AUTH` password; never logged. */
  readonly password?: Secret | string | undefined;
  /** Prepended to every key, e.g. `swb:`; no braces (hash tags come from namespaces). Default ''. */
  readonly keyPrefix?: string | undefined;
  /**
   * How long one operation may take, retries included: a failover's retries happen inside it,
   * so keep it above the cluster's `cluster-node-timeout` + 2 s for calls to ride a failover out
   * rather than fail. Default 5000 ms.
   */
  readonly commandTimeoutMs?: number | undefined;
  /** TCP connect timeout per node. Default 5000 ms. */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Cluster: the wait before a call sent to a node that went away is retried (after a slot map
   * refresh). Default 100 ms.
   */
  readonly failoverRetryDelayMs?: number | undefined;
  /**
   * Cluster: `replica` sends reads (get, mget, members…) to replicas, which may lag behind the
   * primary: a read right after a write may miss it. Compare-and-set always reads the primary.
   * Default `primary`. Namespaces and collections may override it.
   */
  readonly readFrom?: KvReadFrom | undefined;
  /** Keys asked per SCAN call (COUNT). Default 500. */
  readonly scanCount?: number | undefined;
  /**
   * Attempts of `update()` before `SWB_KV_CONFLICT`, with a random back-off (growing to 100 ms)
   * after each lost race. Default 16.
   */
  readonly updateAttempts?: number | undefined;
}

export interface ResolvedKvConfig {
  readonly mode: 'cluster' | 'standalone';
  readonly nodes: readonly HostPort[];
  readonly username: string | undefined;
  readonly password: Secret | undefined;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly failoverRetryDelayMs: number;
  readonly readFrom: KvReadFrom;
  readonly scanCount: number;
  readonly updateAttempts: number;
}

/** Every default, in one place. */
export const kvDefaults = Object.freeze({
  mode: 'cluster',
  keyPrefix: '',
  commandTimeoutMs: 5000,
  connectTimeoutMs: 5000,
  failoverRetryDelayMs: 100,
  readFrom: 'primary',
  scanCount: 500,
  updateAttempts: 16,
} as const);

/**
 * Validates the configuration once and returns a frozen, fully defaulted copy. Every bad field
 * is named in one `ConfigError` (`SWB_CONFIG_INVALID`), paths as in the daemons' config
 * (`kv.nodes[1]`). The password never appears in it.
 */
export function resolveKvConfig(config: KvConfig): ResolvedKvConfig {
  const issues = new OptionIssues('kv');
  if (typeof config !== 'object' || (config as unknown) === null) {
    issues.add('nodes', 'expected a configuration object with nodes');
    throw new ConfigError(issues.list);
  }
  const mode = oneOfOption(issues, 'mode', config.mode, ['cluster', 'standalone'], kvDefaults.mode);
  const nodes: HostPort[] = [];
  const rawNodes = config.nodes as unknown;
  if (rawNodes === undefined) {
    issues.add('nodes', 'is required: seed nodes as "host:port"');
  } else if (!Array.isArray(rawNodes) || rawNodes.length === 0) {
    issues.add('nodes', 'expected a non-empty array of "host:port"', rawNodes);
  } else {
    rawNodes.forEach((node: unknown, i) => {
      const parsed = typeof node === 'string' ? tryParseHostPort(node) : undefined;
      if (parsed === undefined) {
        issues.add(`nodes[${i}]`, 'expected "host:port" with a port in 1..65535', node);
      } else nodes.push(Object.freeze(parsed));
    });
    if (mode === 'standalone' && rawNodes.length > 1) {
      issues.add('nodes', 'expected exactly one node in standalone mode', rawNodes);
    }
  }
  let username: string | undefined;
  if (config.username !== undefined) {
    if (typeof config.username === 'string' && config.username.length > 0) {
      username = config.username;
    } else issues.add('username', 'expected a non-empty string', config.username);
  }
  let password: Secret | undefined;
  const rawPassword = config.password as unknown;
  if (rawPassword instanceof Secret) password = rawPassword;
  else if (typeof rawPassword === 'string' && rawPassword.length > 0) {
    password = new Secret(rawPassword);
  } else if (rawPassword !== undefined) {
    issues.add('password', 'expected a non-empty string or Secret', '[redacted]');
  }
  let keyPrefix: string = kvDefaults.keyPrefix;
  if (config.keyPrefix !== undefined) {
    if (typeof config.keyPrefix !== 'string') {
      issues.add('keyPrefix', 'expected a string', config.keyPrefix);
    } else if (/[{}]/.test(config.keyPrefix)) {
      issues.add(
        'keyPrefix',
        'must not contain "{" or "}": it would put every key in one hash slot; use namespace(name, { colocate: true }) for keys that must live together',
        config.keyPrefix,
      );
    } else if (config.keyPrefix.length > 200) {
      issues.add('keyPrefix', 'expected at most 200 characters', config.keyPrefix);
    } else keyPrefix = config.keyPrefix;
  }
  const readFrom = oneOfOption(
    issues,
    'readFrom',
    config.readFrom,
    ['primary', 'replica'],
    kvDefaults.readFrom,
  );
  if (readFrom === 'replica' && mode === 'standalone') {
    issues.add(
      'readFrom',
      'a standalone server has no replicas: "replica" needs mode "cluster"',
      readFrom,
    );
  }
  const resolved: ResolvedKvConfig = {
    mode,
    nodes: Object.freeze(nodes),
    username,
    password,
    keyPrefix,
    commandTimeoutMs: integerOption(
      issues,
      'commandTimeoutMs',
      config.commandTimeoutMs,
      kvDefaults.commandTimeoutMs,
      1,
      600_000,
    ),
    connectTimeoutMs: integerOption(
      issues,
      'connectTimeoutMs',
      config.connectTimeoutMs,
      kvDefaults.connectTimeoutMs,
      1,
      600_000,
    ),
    failoverRetryDelayMs: integerOption(
      issues,
      'failoverRetryDelayMs',
      config.failoverRetryDelayMs,
      kvDefaults.failoverRetryDelayMs,
      1,
      60_000,
    ),
    readFrom,
    scanCount: integerOption(
      issues,
      'scanCount',
      config.scanCount,
      kvDefaults.scanCount,
      1,
      100_000,
    ),
    updateAttempts: integerOption(
      issues,
      'updateAttempts',
      config.updateAttempts,
      kvDefaults.updateAttempts,
      1,
      1000,
    ),
  };
  if (issues.list.length > 0) throw new ConfigError(issues.list);
  return Object.freeze(resolved);
}
