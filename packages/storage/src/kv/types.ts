import type { ReadinessCheck, Static, TSchema } from '@switchboard/runtime';
import type { KvReadFrom } from './config.js';

/** Options of `namespace()`. */
export interface KvNamespaceOptions {
  /**
   * Put every key of the namespace in one hash slot (the name becomes a hash tag, `{calls}`),
   * so multi-key calls (`mset` atomically, `compareAndSetMany`) work across them. Default false:
   * keys spread over the whole cluster, which is what lets it scale; colocate only data that
   * must change together and stays small.
   */
  readonly colocate?: boolean;
  /** Overrides the client's `readFrom` for the collections of this namespace. */
  readonly readFrom?: KvReadFrom;
}

/** Options every collection accepts. */
export interface KvCollectionOptions {
  /** Default time to live of what the collection writes; omit for keys that persist. */
  readonly ttlMs?: number;
  /**
   * `replica` reads from replicas: cheaper for hot data, but a read right after a write may
   * not see it (replication is asynchronous). Default: the namespace's, then the client's.
   */
  readonly readFrom?: KvReadFrom;
}

export interface KvRecordOptions extends KvCollectionOptions {
  /** A TypeBox schema every value must match, checked on write and on read. */
  readonly schema?: TSchema;
}

/** Per-call write options. */
export interface KvWriteOptions {
  /** Overrides the collection's TTL for this write. */
  readonly ttlMs?: number;
}

/** Options of `keys()`. */
export interface KvScanOptions {
  /** Only keys starting with this text (relative to the collection or namespace). */
  readonly prefix?: string;
  /** Keys asked per SCAN call; default the client's `scanCount`. */
  readonly count?: number;
}

/** One compare-and-set of `compareAndSetMany`. */
export interface KvCasEntry<T> {
  readonly key: string;
  /** The value expected now, `undefined` for "absent". Compared by its JSON text. */
  readonly expected: T | undefined;
  /** The value to write, `undefined` to delete. */
  readonly next: T | undefined;
}

/** Anything with keys under a prefix. */
export interface KvScannable {
  /** The full Redis key prefix, e.g. `swb:{calls}:legs:`. */
  readonly prefix: string;
  /**
   * Every key under the prefix, relative to it. In cluster mode every primary is scanned (SCAN
   * with COUNT batches); each key is yielded once even if SCAN returns it twice. Keys written
   * or deleted during the scan may or may not appear.
   */
  keys(options?: KvScanOptions): AsyncIterable<string>;
}

/** JSON values, one per key, optionally with a schema and a TTL. */
export interface KvRecords<T> extends KvScannable {
  /** The value, or undefined when the key does not exist (or expired). */
  get(key: string): Promise<T | undefined>;
  /** Values in the order of `keys`, undefined where missing; keys may span slots. */
  mget(keys: readonly string[]): Promise<(T | undefined)[]>;
  set(key: string, value: T, options?: KvWriteOptions): Promise<void>;
  /**
   * Writes several values: atomically when all keys share a slot (a colocated namespace),
   * otherwise atomically per slot.
   */
  mset(entries: Iterable<readonly [string, T]>, options?: KvWriteOptions): Promise<void>;
  /** Writes only if the key does not exist; true if it wrote. */
  setIfAbsent(key: string, value: T, options?: KvWriteOptions): Promise<boolean>;
  /** True if the key existed. */
  delete(key: string): Promise<boolean>;
  /** How many of the keys existed. */
  deleteMany(keys: readonly string[]): Promise<number>;
  /**
   * Writes `next` (deletes when undefined) only if the stored value is still `expected`
   * (`undefined`: only if absent); true if it wrote. `expected` is compared by its JSON text,
   * so pass the value `get` returned.
   */
  compareAndSet(
    key: string,
    expected: T | undefined,
    next: T | undefined,
    options?: KvWriteOptions,
  ): Promise<boolean>;
  /**
   * All-or-nothing compare-and-set of several keys, which must share a hash slot (a colocated
   * namespace) in cluster mode, or `SWB_KV_CROSS_SLOT`.
   */
  compareAndSetMany(entries: readonly KvCasEntry<T>[], options?: KvWriteOptions): Promise<boolean>;
  /**
   * Reads the value from the primary, computes the next one and writes it with compare-and-set,
   * again while another writer got there first (`SWB_KV_CONFLICT` after `updateAttempts`).
   * `fn` returning undefined deletes. Resolves to what was written.
   */
  update(
    key: string,
    fn: (current: T | undefined) => T | undefined | Promise<T | undefined>,
    options?: KvWriteOptions,
  ): Promise<T | undefined>;
  /** Milliseconds left to live; undefined if the key is missing or persists. */
  ttl(key: string): Promise<number | undefined>;
}

/** Redis hashes of string fields. */
export interface KvHashes<
  T extends Record<string, string> = Record<string, string>,
> extends KvScannable {
  /** Every field, or undefined when the key does not exist. */
  get(key: string): Promise<T | undefined>;
  getField<F extends keyof T & string>(key: string, field: F): Promise<T[F] | undefined>;
  /** Replaces the whole hash (atomically). */
  set(key: string, value: T, options?: KvWriteOptions): Promise<void>;
  /** Sets the fields given, leaves the others. */
  merge(key: string, fields: Partial<T>, options?: KvWriteOptions): Promise<void>;
  /** How many fields existed. */
  deleteFields(key: string, fields: readonly (keyof T & string)[]): Promise<number>;
  delete(key: string): Promise<boolean>;
}

/** Integer counters. With a TTL, the first increment starts a fixed window. */
export interface KvCounters extends KvScannable {
  /** 0 when missing. */
  get(key: string): Promise<number>;
  /** The value after adding `by` (default 1). */
  incr(key: string, by?: number, options?: KvWriteOptions): Promise<number>;
  decr(key: string, by?: number, options?: KvWriteOptions): Promise<number>;
  set(key: string, value: number, options?: KvWriteOptions): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** Sets of strings. A TTL is renewed by every `add`. */
export interface KvSets extends KvScannable {
  /** How many were new. */
  add(key: string, members: string | readonly string[], options?: KvWriteOptions): Promise<number>;
  /** How many were there. */
  remove(key: string, members: string | readonly string[]): Promise<number>;
  members(key: string): Promise<string[]>;
  isMember(key: string, member: string): Promise<boolean>;
  size(key: string): Promise<number>;
  delete(key: string): Promise<boolean>;
}

/** A key prefix, and the collections under it. */
export interface KvNamespace extends KvScannable {
  /** Whether the keys under it share one hash slot. */
  readonly colocated: boolean;
  namespace(name: string, options?: KvNamespaceOptions): KvNamespace;
  records<S extends TSchema>(
    name: string,
    options: KvRecordOptions & { readonly schema: S },
  ): KvRecords<Static<S>>;
  records<T = unknown>(name: string, options?: KvRecordOptions): KvRecords<T>;
  hashes<T extends Record<string, string> = Record<string, string>>(
    name: string,
    options?: KvCollectionOptions,
  ): KvHashes<T>;
  counters(name: string, options?: KvCollectionOptions): KvCounters;
  sets(name: string, options?: KvCollectionOptions): KvSets;
}

/** What `ping` reports. */
export interface KvHealth {
  readonly mode: 'cluster' | 'standalone';
  /** Round trip of the slowest PING, in ms. */
  readonly latencyMs: number;
  /** `host:port` of every primary that answered. */
  readonly primaries: readonly string[];
}

/** The client: the root namespace (under `keyPrefix`) plus lifecycle. */
export interface Kv extends KvNamespace {
  readonly mode: 'cluster' | 'standalone';
  /** Resolves once connected (and, in a cluster, the slot map known); `SWB_KV_UNAVAILABLE` otherwise. */
  ready(): Promise<void>;
  /** PINGs every primary (and checks cluster_state); `SWB_KV_UNAVAILABLE` if one does not answer. */
  ping(): Promise<KvHealth>;
  /** A check for the runtime's `/readyz`, built on `ping`. */
  readinessCheck(name?: string): ReadinessCheck;
  /** QUITs every connection after the replies in flight; idempotent. Later calls: `SWB_KV_CLOSED`. */
  close(): Promise<void>;
  /** Drops every connection at once, failing calls in flight; idempotent. */
  destroy(): void;
}
