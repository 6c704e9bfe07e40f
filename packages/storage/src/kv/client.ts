import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelay,
  type Logger,
  type ReadinessCheck,
  type Static,
  type TSchema,
} from '@switchboard/runtime';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { JsonCodec, decodeCounter, type KvCodec } from './codec.js';
import {
  resolveKvConfig,
  type KvConfig,
  type KvReadFrom,
  type ResolvedKvConfig,
} from './config.js';
import { connectKv, type KvRedisClient } from './connection.js';
import {
  KvConflictError,
  KvCrossSlotError,
  KvError,
  KvErrorKind,
  KvInvalidArgumentError,
  toKvError,
} from './errors.js';
import {
  checkKey,
  checkTtl,
  childPrefix,
  escapeGlob,
  groupBySlot,
  keySlot,
  validateName,
} from './keys.js';
import type {
  Kv,
  KvCasEntry,
  KvCollectionOptions,
  KvCounters,
  KvHashes,
  KvHealth,
  KvNamespace,
  KvNamespaceOptions,
  KvRecordOptions,
  KvRecords,
  KvScanOptions,
  KvSets,
  KvWriteOptions,
} from './types.js';

export interface KvDeps {
  /** Receives the client's connection errors (warn); the password is never in them. */
  readonly logger?: Logger;
}

/** The shared state of one `createKv`: its clients, and whether it is closed. */
class KvCore {
  readonly config: ResolvedKvConfig;
  readonly #logger: Logger | undefined;
  readonly #clients = new Map<KvReadFrom, KvRedisClient>();
  closed = false;
  #closing: Promise<void> | undefined;

  constructor(config: ResolvedKvConfig, logger: Logger | undefined) {
    this.config = config;
    this.#logger = logger;
    this.client(config.readFrom);
  }

  get cluster(): boolean {
    return this.config.mode === 'cluster';
  }

  /** The client whose reads go to `readFrom`; the other one is opened on first use. */
  client(readFrom: KvReadFrom): KvRedisClient {
    const wanted = this.cluster ? readFrom : 'primary';
    let client = this.#clients.get(wanted);
    if (client === undefined) {
      if (this.closed) throw new KvError(KvErrorKind.Closed, 'the kv client is closed');
      client = connectKv(this.config, wanted);
      client.on('error', (err: unknown) => {
        this.#logger?.warn({ err, readFrom: wanted }, 'kv: redis client error');
      });
      client.on('node error', (err: unknown, address: unknown) => {
        this.#logger?.warn({ err, node: address, readFrom: wanted }, 'kv: redis node error');
      });
      this.#clients.set(wanted, client);
    }
    return client;
  }

  get main(): KvRedisClient {
    return this.client(this.config.readFrom);
  }

  /** The kv error for a failed call; after `close()` always `SWB_KV_CLOSED`. */
  fail(error: unknown, key?: string): KvError {
    return toKvError(error, key, this.closed);
  }

  /** Resolves when `client` is ready; rejects after the connect and command timeouts. */
  async ready(client: KvRedisClient): Promise<void> {
    if (this.closed) throw this.fail(new Error('closed'));
    if (client.status === 'ready') return;
    if (client.status === 'end' || client.status === 'close') {
      throw new KvError(KvErrorKind.Unavailable, `Redis connection is ${client.status}`);
    }
    const timeoutMs = this.config.connectTimeoutMs + this.config.commandTimeoutMs;
    const emitter = client as unknown as NodeJS.EventEmitter;
    let onReady: (() => void) | undefined;
    let onEnd: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onReady = resolve;
        onEnd = () => {
          reject(new KvError(KvErrorKind.Unavailable, 'Redis connection ended before ready'));
        };
        timer = setTimeout(() => {
          reject(
            new KvError(
              KvErrorKind.Unavailable,
              `Redis not ready within ${timeoutMs} ms (status ${client.status})`,
            ),
          );
        }, timeoutMs);
        emitter.once('ready', onReady);
        emitter.once('end', onEnd);
      });
    } finally {
      clearTimeout(timer);
      if (onReady !== undefined) emitter.off('ready', onReady);
      if (onEnd !== undefined) emitter.off('end', onEnd);
    }
  }

  /** The nodes to scan or ping: every primary of a cluster, or the one server. */
  async primaries(client: KvRedisClient): Promise<Redis[]> {
    await this.ready(client);
    if (!this.cluster) return [client as Redis];
    const nodes = (client as Cluster).nodes('master');
    if (nodes.length === 0) {
      throw new KvError(KvErrorKind.Unavailable, 'the cluster client knows no primary');
    }
    return nodes;
  }

  async ping(): Promise<KvHealth> {
    const client = this.main;
    let nodes: Redis[];
    try {
      nodes = await this.primaries(client);
    } catch (error) {
      throw this.fail(error);
    }
    const began = performance.now();
    const primaries = await Promise.all(
      nodes.map(async (node) => {
        const address = `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
        try {
          await node.ping();
          if (this.cluster) {
            const info = String(await node.call('CLUSTER', 'INFO'));
            if (!/^cluster_state:ok\s*$/m.test(info)) {
              throw new KvError(KvErrorKind.Unavailable, `${address}: cluster_state is not ok`);
            }
          }
        } catch (error) {
          const failure = this.fail(error);
          failure.message = `${address}: ${failure.message}`;
          throw failure;
        }
        return address;
      }),
    );
    return {
      mode: this.config.mode,
      latencyMs: Math.round((performance.now() - began) * 100) / 100,
      primaries,
    };
  }

  close(): Promise<void> {
    this.closed = true;
    this.#closing ??= Promise.all(
      [...this.#clients.values()].map(async (client) => {
        if (client.status === 'end') return;
        try {
          await client.quit();
        } catch {
          // QUIT failed (the connection was already gone): drop it instead.
          client.disconnect();
        }
      }),
    ).then(() => undefined);
    return this.#closing;
  }

  destroy(): void {
    this.closed = true;
    for (const client of this.#clients.values()) client.disconnect();
  }
}

/** Fails on any error reply inside a MULTI's results. */
async function exec(multi: ChainableCommander): Promise<unknown[]> {
  const results = await multi.exec();
  if (results === null) throw new Error('transaction aborted');
  const values: unknown[] = [];
  for (const [error, value] of results) {
    if (error !== null) throw error;
    values.push(value);
  }
  return values;
}

/** Keys under a prefix, each once, relative to the prefix. */
async function* scanKeys(
  core: KvCore,
  client: KvRedisClient,
  prefix: string,
  options: KvScanOptions,
): AsyncGenerator<string> {
  const sub = options.prefix ?? '';
  if (typeof sub !== 'string') throw new KvInvalidArgumentError('prefix must be a string');
  const count = options.count ?? core.config.scanCount;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new KvInvalidArgumentError(`count must be a positive integer; got ${String(count)}`);
  }
  const pattern = `${escapeGlob(prefix + sub)}*`;
  const seen = new Set<string>();
  let nodes: Redis[];
  try {
    nodes = await core.primaries(client);
  } catch (error) {
    throw core.fail(error, prefix);
  }
  for (const node of nodes) {
    let cursor = '0';
    do {
      let reply: [string, string[]];
      try {
        reply = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      } catch (error) {
        throw core.fail(error, prefix);
      }
      cursor = reply[0];
      for (const key of reply[1]) {
        if (seen.has(key)) continue;
        seen.add(key);
        yield key.slice(prefix.length);
      }
    } while (cursor !== '0');
  }
}

/** What every collection shares: where its keys live and which client reads them. */
abstract class Collection {
  readonly prefix: string;
  protected readonly core: KvCore;
  protected readonly client: KvRedisClient;
  protected readonly readFrom: KvReadFrom;
  protected readonly ttlMs: number | undefined;

  constructor(core: KvCore, prefix: string, readFrom: KvReadFrom, ttlMs: number | undefined) {
    this.core = core;
    this.prefix = prefix;
    this.readFrom = core.cluster ? readFrom : 'primary';
    this.client = core.client(readFrom);
    this.ttlMs = ttlMs === undefined ? undefined : checkTtl(ttlMs);
  }

  keys(options: KvScanOptions = {}): AsyncIterable<string> {
    return scanKeys(this.core, this.client, this.prefix, options);
  }

  protected full(key: string): string {
    checkKey(key);
    return this.prefix + key;
  }

  protected ttlOf(options: KvWriteOptions | undefined, key: string): number | undefined {
    const ttl = options?.ttlMs;
    return ttl === undefined ? this.ttlMs : checkTtl(ttl, key);
  }

  async delete(key: string): Promise<boolean> {
    const full = this.full(key);
    try {
      return (await this.client.del(full)) > 0;
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  /** Sets a TTL in the same transaction as a write that does not take one itself. */
  protected async withTtl(
    full: string,
    ttl: number | undefined,
    write: (multi: ChainableCommander) => ChainableCommander,
  ): Promise<unknown> {
    try {
      if (ttl === undefined) {
        const [first] = await exec(write(this.client.multi()));
        return first;
      }
      const [first] = await exec(write(this.client.multi()).pexpire(full, ttl));
      return first;
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }
}

class Records<T> extends Collection implements KvRecords<T> {
  readonly #codec: KvCodec<T>;

  constructor(core: KvCore, prefix: string, readFrom: KvReadFrom, options: KvRecordOptions) {
    super(core, prefix, readFrom, options.ttlMs);
    this.#codec = new JsonCodec<T>(options.schema);
  }

  async get(key: string): Promise<T | undefined> {
    if (typeof key !== 'string' || key.length === 0) checkKey(key);
    const full = this.prefix + key;
    let raw: string | null;
    try {
      raw = await this.client.get(full);
    } catch (error) {
      throw this.core.fail(error, full);
    }
    return raw === null ? undefined : this.#codec.decode(full, raw);
  }

  async mget(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const fulls = keys.map((key) => this.full(key));
    let raws: (string | null)[];
    try {
      raws = await this.#mgetRaw(fulls);
    } catch (error) {
      throw this.core.fail(error, fulls[0]);
    }
    return raws.map((raw, i) =>
      raw === null ? undefined : this.#codec.decode(fulls[i] as string, raw),
    );
  }

  async #mgetRaw(fulls: string[]): Promise<(string | null)[]> {
    if (!this.core.cluster) return this.client.mget(fulls);
    const groups = groupBySlot(fulls);
    if (groups.length === 1) return this.client.mget(fulls);
    // One MGET per slot, all in flight at once; replies go back to their keys' positions.
    const replies = await Promise.all(groups.map((group) => this.client.mget(group.keys)));
    const raws = new Array<string | null>(fulls.length);
    groups.forEach((group, g) => {
      const reply = replies[g] ?? [];
      group.indexes.forEach((index, k) => {
        raws[index] = reply[k] ?? null;
      });
    });
    return raws;
  }

  async set(key: string, value: T, options?: KvWriteOptions): Promise<void> {
    if (typeof key !== 'string' || key.length === 0) checkKey(key);
    const full = this.prefix + key;
    const text = this.#codec.encode(full, value);
    const ttl = options === undefined ? this.ttlMs : this.ttlOf(options, full);
    try {
      if (ttl === undefined) await this.client.set(full, text);
      else await this.client.set(full, text, 'PX', ttl);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async mset(entries: Iterable<readonly [string, T]>, options?: KvWriteOptions): Promise<void> {
    const fulls: string[] = [];
    const texts: string[] = [];
    for (const [key, value] of entries) {
      const full = this.full(key);
      fulls.push(full);
      texts.push(this.#codec.encode(full, value));
    }
    if (fulls.length === 0) return;
    const ttl = this.ttlOf(options, fulls[0] as string);
    const groups = this.core.cluster
      ? groupBySlot(fulls)
      : [{ slot: 0, keys: fulls, indexes: fulls.map((_, i) => i) }];
    try {
      await Promise.all(
        groups.map((group) => {
          const multi = this.client.multi();
          for (const index of group.indexes) {
            const full = fulls[index] as string;
            const text = texts[index] as string;
            if (ttl === undefined) multi.set(full, text);
            else multi.set(full, text, 'PX', ttl);
          }
          return exec(multi);
        }),
      );
    } catch (error) {
      throw this.core.fail(error, fulls[0]);
    }
  }

  async setIfAbsent(key: string, value: T, options?: KvWriteOptions): Promise<boolean> {
    const full = this.full(key);
    const text = this.#codec.encode(full, value);
    const ttl = this.ttlOf(options, full);
    try {
      const reply =
        ttl === undefined
          ? await this.client.set(full, text, 'NX')
          : await this.client.set(full, text, 'PX', ttl, 'NX');
      return reply === 'OK';
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const fulls = keys.map((key) => this.full(key));
    try {
      if (!this.core.cluster) return await this.client.del(...fulls);
      const counts = await Promise.all(
        groupBySlot(fulls).map((group) => this.client.del(...group.keys)),
      );
      return counts.reduce((sum, n) => sum + n, 0);
    } catch (error) {
      throw this.core.fail(error, fulls[0]);
    }
  }

  compareAndSet(
    key: string,
    expected: T | undefined,
    next: T | undefined,
    options?: KvWriteOptions,
  ): Promise<boolean> {
    return this.compareAndSetMany([{ key, expected, next }], options);
  }

  async compareAndSetMany(
    entries: readonly KvCasEntry<T>[],
    options?: KvWriteOptions,
  ): Promise<boolean> {
    if (entries.length === 0) return true;
    const fulls: string[] = [];
    const args: string[] = [];
    for (const entry of entries) {
      const full = this.full(entry.key);
      fulls.push(full);
      args.push(
        entry.expected === undefined ? '0' : '1',
        entry.expected === undefined ? '' : this.#codec.encode(full, entry.expected),
        entry.next === undefined ? '0' : '1',
        entry.next === undefined ? '' : this.#codec.encode(full, entry.next),
      );
    }
    return this.#cas(fulls, args, this.ttlOf(options, fulls[0] as string));
  }

  async #cas(fulls: string[], args: string[], ttl: number | undefined): Promise<boolean> {
    if (this.core.cluster && fulls.length > 1) {
      const slot = keySlot(fulls[0] as string);
      if (fulls.some((full) => keySlot(full) !== slot)) throw new KvCrossSlotError(fulls);
    }
    if (new Set(fulls).size !== fulls.length) {
      throw new KvInvalidArgumentError('compareAndSetMany names a key twice', fulls[0]);
    }
    try {
      const written = await this.client.swbKvCas(
        fulls.length,
        ...fulls,
        ttl === undefined ? '0' : String(ttl),
        ...args,
      );
      return written === 1;
    } catch (error) {
      throw this.core.fail(error, fulls[0]);
    }
  }

  async update(
    key: string,
    fn: (current: T | undefined) => T | undefined | Promise<T | undefined>,
    options?: KvWriteOptions,
  ): Promise<T | undefined> {
    const full = this.full(key);
    const ttl = this.ttlOf(options, full);
    for (let attempt = 0; attempt < this.core.config.updateAttempts; attempt++) {
      let raw: string | null;
      try {
        // A replica may lag: the read that a CAS depends on goes to the primary.
        raw =
          this.readFrom === 'replica'
            ? await this.client.swbKvPrimaryGet(full)
            : await this.client.get(full);
      } catch (error) {
        throw this.core.fail(error, full);
      }
      const current = raw === null ? undefined : this.#codec.decode(full, raw);
      const next = await fn(current);
      if (next === undefined && raw === null) return undefined;
      const args = [
        raw === null ? '0' : '1',
        raw ?? '',
        next === undefined ? '0' : '1',
        next === undefined ? '' : this.#codec.encode(full, next),
      ];
      if (await this.#cas([full], args, ttl)) return next;
      // Another writer won: back off a random while (growing, at most 100 ms) so the losers
      // do not all read and collide again at once.
      await sleep(backoffDelay(attempt + 1, { baseMs: 1, maxMs: 100, jitter: 'full' }));
    }
    throw new KvConflictError(full, this.core.config.updateAttempts);
  }

  async ttl(key: string): Promise<number | undefined> {
    const full = this.full(key);
    try {
      const ms = await this.client.pttl(full);
      return ms < 0 ? undefined : ms;
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }
}

class Hashes<T extends Record<string, string>> extends Collection implements KvHashes<T> {
  async get(key: string): Promise<T | undefined> {
    const full = this.full(key);
    let fields: Record<string, string>;
    try {
      fields = await this.client.hgetall(full);
    } catch (error) {
      throw this.core.fail(error, full);
    }
    for (const _ in fields) return fields as T;
    return undefined;
  }

  async getField<F extends keyof T & string>(key: string, field: F): Promise<T[F] | undefined> {
    const full = this.full(key);
    try {
      return ((await this.client.hget(full, field)) ?? undefined) as T[F] | undefined;
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async set(key: string, value: T, options?: KvWriteOptions): Promise<void> {
    const full = this.full(key);
    const fields = this.#fields(full, value);
    const ttl = this.ttlOf(options, full);
    if (fields.length === 0) {
      await this.delete(key);
      return;
    }
    await this.withTtl(full, ttl, (multi) => multi.del(full).hset(full, ...fields));
  }

  async merge(key: string, fields: Partial<T>, options?: KvWriteOptions): Promise<void> {
    const full = this.full(key);
    const flat = this.#fields(full, fields);
    const ttl = this.ttlOf(options, full);
    if (flat.length === 0) return;
    await this.withTtl(full, ttl, (multi) => multi.hset(full, ...flat));
  }

  async deleteFields(key: string, fields: readonly (keyof T & string)[]): Promise<number> {
    const full = this.full(key);
    if (fields.length === 0) return 0;
    try {
      return await this.client.hdel(full, ...fields);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  #fields(full: string, value: Partial<T>): string[] {
    if (typeof value !== 'object' || (value as unknown) === null) {
      throw new KvInvalidArgumentError(`a hash must be an object of string fields`, full);
    }
    const flat: string[] = [];
    for (const [field, fieldValue] of Object.entries(value)) {
      if (fieldValue === undefined) continue;
      if (typeof fieldValue !== 'string') {
        throw new KvInvalidArgumentError(
          `hash field ${JSON.stringify(field)} must be a string; got ${typeof fieldValue}`,
          full,
        );
      }
      flat.push(field, fieldValue);
    }
    return flat;
  }
}

function checkIncrement(by: number, full: string): number {
  if (!Number.isSafeInteger(by)) {
    throw new KvInvalidArgumentError(`an increment must be a safe integer; got ${by}`, full);
  }
  return by;
}

class Counters extends Collection implements KvCounters {
  async get(key: string): Promise<number> {
    const full = this.full(key);
    let raw: string | null;
    try {
      raw = await this.client.get(full);
    } catch (error) {
      throw this.core.fail(error, full);
    }
    return decodeCounter(full, raw);
  }

  async incr(key: string, by = 1, options?: KvWriteOptions): Promise<number> {
    const full = this.full(key);
    checkIncrement(by, full);
    const ttl = this.ttlOf(options, full);
    try {
      return ttl === undefined
        ? await this.client.incrby(full, by)
        : await this.client.swbKvIncr(full, by, ttl);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  decr(key: string, by = 1, options?: KvWriteOptions): Promise<number> {
    return this.incr(key, -by, options);
  }

  async set(key: string, value: number, options?: KvWriteOptions): Promise<void> {
    const full = this.full(key);
    checkIncrement(value, full);
    const ttl = this.ttlOf(options, full);
    try {
      if (ttl === undefined) await this.client.set(full, String(value));
      else await this.client.set(full, String(value), 'PX', ttl);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }
}

function memberList(members: string | readonly string[], full: string): string[] {
  const list = typeof members === 'string' ? [members] : [...members];
  for (const member of list) {
    if (typeof member !== 'string') {
      throw new KvInvalidArgumentError(`a set member must be a string; got ${typeof member}`, full);
    }
  }
  return list;
}

class Sets extends Collection implements KvSets {
  async add(
    key: string,
    members: string | readonly string[],
    options?: KvWriteOptions,
  ): Promise<number> {
    const full = this.full(key);
    const list = memberList(members, full);
    if (list.length === 0) return 0;
    const ttl = this.ttlOf(options, full);
    return Number(await this.withTtl(full, ttl, (multi) => multi.sadd(full, ...list)));
  }

  async remove(key: string, members: string | readonly string[]): Promise<number> {
    const full = this.full(key);
    const list = memberList(members, full);
    if (list.length === 0) return 0;
    try {
      return await this.client.srem(full, ...list);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async members(key: string): Promise<string[]> {
    const full = this.full(key);
    try {
      return await this.client.smembers(full);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async isMember(key: string, member: string): Promise<boolean> {
    const full = this.full(key);
    try {
      return (await this.client.sismember(full, member)) === 1;
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }

  async size(key: string): Promise<number> {
    const full = this.full(key);
    try {
      return await this.client.scard(full);
    } catch (error) {
      throw this.core.fail(error, full);
    }
  }
}

class Namespace implements KvNamespace {
  readonly prefix: string;
  readonly colocated: boolean;
  protected readonly core: KvCore;
  readonly #readFrom: KvReadFrom;

  constructor(core: KvCore, prefix: string, colocated: boolean, readFrom: KvReadFrom) {
    this.core = core;
    this.prefix = prefix;
    this.colocated = colocated;
    this.#readFrom = readFrom;
  }

  namespace(name: string, options: KvNamespaceOptions = {}): KvNamespace {
    validateName(name, 'a namespace name');
    const colocate = options.colocate === true;
    return new Namespace(
      this.core,
      childPrefix(this.prefix, this.colocated, name, colocate),
      this.colocated || colocate,
      this.#readFromOf(options.readFrom),
    );
  }

  records<S extends TSchema>(
    name: string,
    options: KvRecordOptions & { readonly schema: S },
  ): KvRecords<Static<S>>;
  records<T = unknown>(name: string, options?: KvRecordOptions): KvRecords<T>;
  records<T>(name: string, options: KvRecordOptions = {}): KvRecords<T> {
    return new Records<T>(
      this.core,
      this.#child(name),
      this.#readFromOf(options.readFrom),
      options,
    );
  }

  hashes<T extends Record<string, string> = Record<string, string>>(
    name: string,
    options: KvCollectionOptions = {},
  ): KvHashes<T> {
    return new Hashes<T>(
      this.core,
      this.#child(name),
      this.#readFromOf(options.readFrom),
      options.ttlMs,
    );
  }

  counters(name: string, options: KvCollectionOptions = {}): KvCounters {
    return new Counters(
      this.core,
      this.#child(name),
      this.#readFromOf(options.readFrom),
      options.ttlMs,
    );
  }

  sets(name: string, options: KvCollectionOptions = {}): KvSets {
    return new Sets(
      this.core,
      this.#child(name),
      this.#readFromOf(options.readFrom),
      options.ttlMs,
    );
  }

  keys(options: KvScanOptions = {}): AsyncIterable<string> {
    return scanKeys(this.core, this.core.client(this.#readFrom), this.prefix, options);
  }

  #child(name: string): string {
    validateName(name, 'a collection name');
    return `${this.prefix}${name}:`;
  }

  #readFromOf(readFrom: KvReadFrom | undefined): KvReadFrom {
    if (readFrom === undefined) return this.#readFrom;
    const value: unknown = readFrom;
    if (value !== 'primary' && value !== 'replica') {
      throw new KvInvalidArgumentError(
        `readFrom must be "primary" or "replica"; got ${JSON.stringify(readFrom)}`,
      );
    }
    return readFrom;
  }
}

class KvClient extends Namespace implements Kv {
  readonly mode: 'cluster' | 'standalone';

  constructor(core: KvCore) {
    super(core, core.config.keyPrefix, false, core.config.readFrom);
    this.mode = core.config.mode;
  }

  async ready(): Promise<void> {
    try {
      await this.core.ready(this.core.main);
    } catch (error) {
      throw this.core.fail(error);
    }
  }

  ping(): Promise<KvHealth> {
    return this.core.ping();
  }

  readinessCheck(name = 'kv'): ReadinessCheck {
    const target = this.core.config.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    return {
      name,
      target,
      check: async () => {
        await this.core.ping();
      },
    };
  }

  close(): Promise<void> {
    return this.core.close();
  }

  destroy(): void {
    this.core.destroy();
  }
}

/**
 * Creates the key-value client over a Redis Cluster (or one standalone server) from a
 * configuration validated once, here (`ConfigError` names every bad field); the daemons' loaded
 * `kv` config (`{ nodes }`) fits as it is. It connects in the background: calls made before it
 * is ready wait for it. Close it when done.
 */
export function createKv(config: KvConfig, deps: KvDeps = {}): Kv {
  return new KvClient(new KvCore(resolveKvConfig(config), deps.logger));
}
