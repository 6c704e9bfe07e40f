import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { KvReadFrom, ResolvedKvConfig } from './config.js';

// Lua runs atomically on the node owning its keys; in a cluster every key of one call must be
// in the same slot (the client checks before sending). Values are compared as the exact text
// stored, so a CAS never depends on how JSON is re-parsed.

/**
 * KEYS: the records. ARGV[1]: TTL in ms ('0' for none); then per key: expect mode ('1' a value,
 * '0' absent), expected text, next mode ('1' set, '0' delete), next text. 1 if all matched and
 * were written, 0 if any did not match (nothing written).
 */
const casLua = `
local ttl = ARGV[1]
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 4
  local current = redis.call('GET', KEYS[i])
  if ARGV[base + 1] == '1' then
    if current ~= ARGV[base + 2] then return 0 end
  elseif current then
    return 0
  end
end
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 4
  if ARGV[base + 3] == '1' then
    if ttl ~= '0' then
      redis.call('SET', KEYS[i], ARGV[base + 4], 'PX', ttl)
    else
      redis.call('SET', KEYS[i], ARGV[base + 4])
    end
  else
    redis.call('DEL', KEYS[i])
  end
end
return 1
`;

/** INCRBY, then a TTL if the counter has none yet: a fixed window from the first increment. */
const incrLua = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
`;

/** A GET that is not read-only, so a replica-reading client still sends it to the primary. */
const primaryGetLua = `return redis.call('GET', KEYS[1])`;

const scripts = {
  swbKvCas: { lua: casLua },
  swbKvIncr: { lua: incrLua, numberOfKeys: 1 },
  swbKvPrimaryGet: { lua: primaryGetLua, numberOfKeys: 1 },
};

/** The commands the scripts add to a client. */
export interface KvScriptCommands {
  swbKvCas(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  swbKvIncr(key: string, by: number, ttlMs: number): Promise<number>;
  swbKvPrimaryGet(key: string): Promise<string | null>;
}

export type KvRedisClient = (Redis | Cluster) & KvScriptCommands;

/** ioredis options of one server (ioredis' own `replyMapping` typing trips exactOptionalPropertyTypes). */
export type KvNodeOptions = Omit<RedisOptions, 'replyMapping'>;
export type KvClusterOptions = Omit<ClusterOptions, 'redisOptions'> & {
  readonly redisOptions: KvNodeOptions;
};

/**
 * The ioredis options `createKv` uses for a configuration, so a tool that needs a raw client
 * alike (the bench's baseline, an admin script) gets the same timeouts and retries. Cluster:
 * the command timeout is the deadline of the whole call; a call to a node that went away is
 * retried every `failoverRetryDelayMs` within it (ioredis counts those retries as
 * redirections, hence the raised `maxRedirections`). A `MOVED` is followed after a quarter of
 * that delay rather than at once: right after a failover, nodes briefly disagree about a slot's
 * owner and an instant resend ping-pongs through every allowed redirection in milliseconds
 * (seen as "Too many Cluster redirections" in the failover test).
 */
export function kvClientOptions(
  config: ResolvedKvConfig,
  readFrom: KvReadFrom = config.readFrom,
): { readonly cluster: KvClusterOptions; readonly standalone: KvNodeOptions } {
  const common: KvNodeOptions = {
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password.reveal() }),
  };
  const retries = Math.ceil(config.commandTimeoutMs / config.failoverRetryDelayMs) + 16;
  return {
    cluster: {
      redisOptions: common,
      scaleReads: readFrom === 'replica' ? 'slave' : 'master',
      retryDelayOnFailover: config.failoverRetryDelayMs,
      retryDelayOnClusterDown: config.failoverRetryDelayMs,
      retryDelayOnTryAgain: config.failoverRetryDelayMs,
      retryDelayOnMoved: Math.max(1, Math.round(config.failoverRetryDelayMs / 4)),
      maxRedirections: retries,
      slotsRefreshTimeout: Math.min(config.commandTimeoutMs, 2000),
    },
    standalone: common,
  };
}

/** A connected client for the configuration (ioredis connects in the background). */
export function connectKv(config: ResolvedKvConfig, readFrom: KvReadFrom): KvRedisClient {
  const options = kvClientOptions(config, readFrom);
  if (config.mode === 'standalone') {
    const [node] = config.nodes;
    return new Redis({
      ...options.standalone,
      ...(node === undefined ? {} : { host: node.host, port: node.port }),
      scripts,
    }) as KvRedisClient;
  }
  return new Cluster(
    config.nodes.map((n) => ({ host: n.host, port: n.port })),
    { ...options.cluster, scripts },
  ) as KvRedisClient;
}
