import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { KvDeserializeError, createKv, keySlot, type Kv, type KvConfig } from '../src/kv/index.js';

const info = inject('sandbox');
const clusterSeeds = info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`);
const standaloneNode = `${info.redis.host}:${info.redis.port}`;

// One raw client per mode, to look at what the kv client wrote and to clean up after it.
const rawCluster = new Cluster(
  info.redisCluster.nodes.map((n) => ({ host: n.host, port: n.port })),
);
const rawStandalone = new Redis({ host: info.redis.host, port: info.redis.port });

afterAll(async () => {
  await Promise.all([rawCluster.quit(), rawStandalone.quit()]);
});

async function primariesOf(raw: Cluster | Redis): Promise<Redis[]> {
  if (raw instanceof Redis) return [raw];
  if (raw.status !== 'ready') await new Promise((resolve) => raw.once('ready', resolve));
  return raw.nodes('master');
}

/** Every key under the prefix, per primary node (raw SCAN). */
async function keysPerNode(raw: Cluster | Redis, prefix: string): Promise<string[][]> {
  const perNode: string[][] = [];
  for (const node of await primariesOf(raw)) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    perNode.push(keys);
  }
  return perNode;
}

async function deleteUnder(raw: Cluster | Redis, prefix: string): Promise<void> {
  for (const key of (await keysPerNode(raw, prefix)).flat()) await raw.del(key);
}

/** Polls `read` until `accept` takes its result; fails after `timeoutMs`. */
async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (performance.now() > deadline) throw new Error(`still ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

const modes = [
  {
    mode: 'cluster' as const,
    raw: rawCluster,
    config: (keyPrefix: string): KvConfig => ({ nodes: clusterSeeds, keyPrefix }),
  },
  {
    mode: 'standalone' as const,
    raw: rawStandalone,
    config: (keyPrefix: string): KvConfig => ({
      nodes: [standaloneNode],
      mode: 'standalone',
      keyPrefix,
    }),
  },
];

describe.each(modes)('kv on $mode Redis', ({ mode, raw, config }) => {
  const opened: { kv: Kv; prefix: string }[] = [];

  /** A client under a key prefix of its own; closed, and its keys deleted, after the test. */
  function open(overrides: Partial<KvConfig> = {}): Kv {
    const prefix = `${uniqueName('kv')}:`;
    const kv = createKv({ ...config(prefix), ...overrides });
    opened.push({ kv, prefix });
    return kv;
  }

  afterEach(async () => {
    for (const { kv, prefix } of opened.splice(0)) {
      await kv.close();
      await deleteUnder(raw, prefix);
    }
  });

  it('gets, sets, deletes and reads several JSON records', async () => {
    const kv = open();
    const calls = kv.records<{ from: string; legs: number }>('calls');
    expect(await calls.get('c1')).toBeUndefined();
    await calls.set('c1', { from: 'alice', legs: 2 });
    expect(await calls.get('c1')).toEqual({ from: 'alice', legs: 2 });
    expect(await raw.get(`${kv.prefix}calls:c1`)).toBe('{"from":"alice","legs":2}');
    expect(await calls.ttl('c1')).toBeUndefined();

    expect(await calls.setIfAbsent('c1', { from: 'mallory', legs: 0 })).toBe(false);
    expect(await calls.setIfAbsent('c2', { from: 'bob', legs: 1 })).toBe(true);
    await calls.mset([
      ['c3', { from: 'carol', legs: 3 }],
      ['c4', { from: 'dave', legs: 4 }],
    ]);
    expect(await calls.mget(['c4', 'c1', 'c3'])).toEqual([
      { from: 'dave', legs: 4 },
      { from: 'alice', legs: 2 },
      { from: 'carol', legs: 3 },
    ]);
    expect(await calls.delete('c1')).toBe(true);
    expect(await calls.delete('c1')).toBe(false);
    expect(await calls.deleteMany(['c2', 'c3', 'nope'])).toBe(2);
    expect(await calls.mget(['c1', 'c2', 'c3', 'c4'])).toEqual([
      undefined,
      undefined,
      undefined,
      { from: 'dave', legs: 4 },
    ]);
    await expect(calls.get('')).rejects.toMatchObject({ code: 'SWB_KV_INVALID_ARGUMENT' });
  });

  it('reads many keys across hash slots in the order asked, with undefined for missing ones', async () => {
    const kv = open();
    const items = kv.records<number>('items');
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    const slots = new Set(keys.map((k) => keySlot(`${items.prefix}${k}`)));
    expect(slots.size).toBeGreaterThan(30);
    await items.mset(keys.filter((_, i) => i % 3 !== 0).map((k, i) => [k, i] as const));
    const wanted = [...keys].reverse().concat(['missing-1']);
    const expected = await Promise.all(wanted.map((k) => items.get(k)));
    expect(expected.filter((v) => v === undefined)).toHaveLength(21);
    expect(await items.mget(wanted)).toEqual(expected);
  });

  it('lets a record expire after its TTL, and a per-call TTL override the default', async () => {
    const kv = open();
    const leases = kv.records<string>('leases', { ttlMs: 200 });
    await leases.set('node-1', 'held');
    await leases.set('node-2', 'held', { ttlMs: 60_000 });
    const left = await leases.ttl('node-1');
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(200);
    expect(await leases.ttl('node-2')).toBeGreaterThan(59_000);
    expect(await leases.get('node-1')).toBe('held');
    await eventually(
      () => leases.get('node-1'),
      (v) => v === undefined,
    );
    expect(await leases.get('node-2')).toBe('held');
    expect(await raw.exists(`${leases.prefix}node-1`)).toBe(0);
  });

  it('lets exactly one of two writers win a compare-and-set', async () => {
    const kv = open();
    const bindings = kv.records<{ contact: string; version: number }>('bindings');
    await bindings.set('alice', { contact: 'sip:a@1', version: 1 });
    const seenByA = await bindings.get('alice');
    const seenByB = await bindings.get('alice');
    const [a, b] = await Promise.all([
      bindings.compareAndSet('alice', seenByA, { contact: 'sip:a@2', version: 2 }),
      bindings.compareAndSet('alice', seenByB, { contact: 'sip:a@3', version: 2 }),
    ]);
    expect([a, b].sort()).toEqual([false, true]);
    expect(await bindings.get('alice')).toEqual(
      a ? { contact: 'sip:a@2', version: 2 } : { contact: 'sip:a@3', version: 2 },
    );
    // expected undefined: create only if absent; next undefined: delete if unchanged.
    expect(await bindings.compareAndSet('bob', undefined, { contact: 'x', version: 1 })).toBe(true);
    expect(await bindings.compareAndSet('bob', undefined, { contact: 'y', version: 1 })).toBe(
      false,
    );
    expect(await bindings.compareAndSet('bob', { contact: 'x', version: 1 }, undefined)).toBe(true);
    expect(await bindings.get('bob')).toBeUndefined();
  });

  it('applies concurrent updates one at a time, retrying the losers', async () => {
    // 20 writers on one key: the last may lose up to 19 times.
    const kv = open({ updateAttempts: 40 });
    const tallies = kv.records<{ n: number }>('tallies', { ttlMs: 60_000 });
    await Promise.all(
      Array.from({ length: 20 }, () =>
        tallies.update('t', (current) => ({ n: (current?.n ?? 0) + 1 })),
      ),
    );
    expect(await tallies.get('t')).toEqual({ n: 20 });
    expect(await tallies.ttl('t')).toBeGreaterThan(0);
    expect(await tallies.update('t', () => undefined)).toBeUndefined();
    expect(await tallies.get('t')).toBeUndefined();
  });

  it('counts up and down, with an optional fixed-window TTL', async () => {
    const kv = open();
    const hits = kv.counters('hits');
    expect(await hits.get('a')).toBe(0);
    expect(await hits.incr('a')).toBe(1);
    expect(await hits.incr('a', 10)).toBe(11);
    expect(await hits.decr('a', 4)).toBe(7);
    expect(await hits.decr('a')).toBe(6);
    expect(await hits.get('a')).toBe(6);
    await hits.set('a', 100);
    expect(await hits.get('a')).toBe(100);
    expect(await raw.pttl(`${hits.prefix}a`)).toBe(-1);

    const flood = kv.counters('flood', { ttlMs: 250 });
    expect(await flood.incr('10.0.0.1')).toBe(1);
    const first = await raw.pttl(`${flood.prefix}10.0.0.1`);
    await sleep(50);
    expect(await flood.incr('10.0.0.1')).toBe(2);
    // The window started at the first increment: a later one does not extend it.
    expect(await raw.pttl(`${flood.prefix}10.0.0.1`)).toBeLessThan(first);
    await eventually(
      () => flood.get('10.0.0.1'),
      (n) => n === 0,
    );
    await expect(hits.incr('a', 1.5)).rejects.toMatchObject({ code: 'SWB_KV_INVALID_ARGUMENT' });
    await raw.set(`${hits.prefix}b`, 'abc');
    await expect(hits.incr('b')).rejects.toMatchObject({ code: 'SWB_KV_WRONG_TYPE' });
    await expect(hits.get('b')).rejects.toMatchObject({ code: 'SWB_KV_DESERIALIZE' });
  });

  it('adds, removes and lists set members', async () => {
    const kv = open();
    const contacts = kv.sets('contacts', { ttlMs: 60_000 });
    expect(await contacts.add('alice', ['sip:a@1', 'sip:a@2'])).toBe(2);
    expect(await contacts.add('alice', 'sip:a@2')).toBe(0);
    expect(await contacts.isMember('alice', 'sip:a@1')).toBe(true);
    expect(await contacts.isMember('alice', 'sip:a@9')).toBe(false);
    expect((await contacts.members('alice')).sort()).toEqual(['sip:a@1', 'sip:a@2']);
    expect(await contacts.size('alice')).toBe(2);
    expect(await raw.pttl(`${contacts.prefix}alice`)).toBeGreaterThan(59_000);
    expect(await contacts.remove('alice', ['sip:a@1', 'sip:a@9'])).toBe(1);
    expect(await contacts.members('alice')).toEqual(['sip:a@2']);
    expect(await contacts.delete('alice')).toBe(true);
    expect(await contacts.members('alice')).toEqual([]);
    expect(await contacts.size('alice')).toBe(0);
  });

  it('stores hashes, replaced whole or merged field by field', async () => {
    const kv = open();
    const nodes = kv.hashes<{ role: string; ag?: string; addr: string }>('nodes', {
      ttlMs: 60_000,
    });
    expect(await nodes.get('n1')).toBeUndefined();
    await nodes.set('n1', { role: 'sip-edge', ag: 'ag1', addr: '10.0.0.1:5060' });
    expect(await nodes.get('n1')).toEqual({ role: 'sip-edge', ag: 'ag1', addr: '10.0.0.1:5060' });
    await nodes.set('n1', { role: 'worker', addr: '10.0.0.2:0' });
    expect(await nodes.get('n1')).toEqual({ role: 'worker', addr: '10.0.0.2:0' });
    await nodes.merge('n1', { ag: 'ag2' });
    expect(await nodes.getField('n1', 'ag')).toBe('ag2');
    expect(await nodes.getField('n1', 'role')).toBe('worker');
    expect(await nodes.deleteFields('n1', ['ag', 'role'])).toBe(2);
    expect(await nodes.get('n1')).toEqual({ addr: '10.0.0.2:0' });
    expect(await raw.pttl(`${nodes.prefix}n1`)).toBeGreaterThan(59_000);
    await expect(
      nodes.merge('n1', { role: 5 } as unknown as { role: string }),
    ).rejects.toMatchObject({ code: 'SWB_KV_INVALID_ARGUMENT' });
  });

  it('scans every key under a prefix once, in batches, across every primary', async () => {
    const kv = open({ scanCount: 10 });
    const cdrs = kv.namespace('cdr');
    const records = cdrs.records<number>('by-id');
    const keys = Array.from({ length: 300 }, (_, i) => `id-${i}`);
    await records.mset(keys.map((k, i) => [k, i] as const));
    await kv.records<number>('other').set('x', 1);

    const perNode = await keysPerNode(raw, records.prefix);
    const holding = perNode.filter((node) => node.length > 0).length;
    if (mode === 'cluster') expect(holding).toBe(3);

    const scanned: string[] = [];
    for await (const key of records.keys()) scanned.push(key);
    expect(scanned).toHaveLength(300);
    expect(new Set(scanned)).toEqual(new Set(keys));

    const fromNamespace: string[] = [];
    for await (const key of cdrs.keys({ prefix: 'by-id:id-1', count: 7 })) fromNamespace.push(key);
    expect(fromNamespace.sort()).toEqual(
      keys
        .filter((k) => k.startsWith('id-1'))
        .map((k) => `by-id:${k}`)
        .sort(),
    );
    const all: string[] = [];
    for await (const key of kv.keys()) all.push(key);
    expect(all).toHaveLength(301);
  });

  it('keeps a colocated namespace in one slot, so multi-key calls are atomic', async () => {
    const kv = open();
    const calls = kv.namespace('calls', { colocate: true });
    expect(calls.colocated).toBe(true);
    expect(calls.prefix).toBe(`${kv.prefix}{calls}:`);
    const legs = calls.records<{ state: string }>('legs');
    const meta = calls.namespace('meta').records<{ state: string }>('m');
    expect(keySlot(`${legs.prefix}a`)).toBe(keySlot(`${meta.prefix}zzz`));

    await legs.mset([
      ['a', { state: 'ringing' }],
      ['b', { state: 'ringing' }],
    ]);
    expect(
      await legs.compareAndSetMany([
        { key: 'a', expected: { state: 'ringing' }, next: { state: 'up' } },
        { key: 'b', expected: { state: 'ringing' }, next: { state: 'up' } },
        { key: 'c', expected: undefined, next: { state: 'new' } },
      ]),
    ).toBe(true);
    expect(await legs.mget(['a', 'b', 'c'])).toEqual([
      { state: 'up' },
      { state: 'up' },
      { state: 'new' },
    ]);
    // One stale expectation: nothing is written.
    expect(
      await legs.compareAndSetMany([
        { key: 'a', expected: { state: 'up' }, next: { state: 'ended' } },
        { key: 'b', expected: { state: 'ringing' }, next: { state: 'ended' } },
      ]),
    ).toBe(false);
    expect(await legs.mget(['a', 'b'])).toEqual([{ state: 'up' }, { state: 'up' }]);

    const spread = kv.namespace('spread').records<number>('r');
    const entries = ['k1', 'k2', 'k3', 'k4'].map((key) => ({ key, expected: undefined, next: 1 }));
    if (mode === 'cluster') {
      await expect(spread.compareAndSetMany(entries)).rejects.toMatchObject({
        code: 'SWB_KV_CROSS_SLOT',
      });
      expect(await spread.mget(['k1', 'k2', 'k3', 'k4'])).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    } else {
      expect(await spread.compareAndSetMany(entries)).toBe(true);
    }
  });

  it('fails a read of a value that is not JSON with SWB_KV_DESERIALIZE naming the key, and keeps it', async () => {
    const kv = open();
    const records = kv.records('r');
    const key = `${records.prefix}broken`;
    await raw.set(key, 'not json {');
    const error: unknown = await records.get('broken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KvDeserializeError);
    expect(error).toMatchObject({ code: 'SWB_KV_DESERIALIZE', key, retryable: false });
    expect((error as Error).message).toContain(JSON.stringify(key));
    await expect(records.mget(['broken'])).rejects.toMatchObject({ key });
    await expect(records.update('broken', () => 1)).rejects.toMatchObject({
      code: 'SWB_KV_DESERIALIZE',
    });
    expect(await raw.get(key)).toBe('not json {');

    await expect(records.set('x', undefined)).rejects.toMatchObject({
      code: 'SWB_KV_SERIALIZE',
      key: `${records.prefix}x`,
    });
    await expect(records.set('y', { big: 1n })).rejects.toMatchObject({ code: 'SWB_KV_SERIALIZE' });
    expect(await records.mget(['x', 'y'])).toEqual([undefined, undefined]);

    await raw.sadd(`${records.prefix}a-set`, 'm');
    await expect(records.get('a-set')).rejects.toMatchObject({ code: 'SWB_KV_WRONG_TYPE' });
  });

  it('checks values against a schema on write and on read', async () => {
    const kv = open();
    const Binding = Type.Object({ contact: Type.String(), expires: Type.Integer({ minimum: 0 }) });
    const bindings = kv.records('bindings', { schema: Binding });
    await bindings.set('alice', { contact: 'sip:alice@10.0.0.1', expires: 3600 });
    const alice = await bindings.get('alice');
    expect(alice?.contact).toBe('sip:alice@10.0.0.1');
    await expect(bindings.set('bob', { contact: 'sip:bob@x', expires: -1 })).rejects.toThrow(
      /^cannot store ".*bindings:bob": does not match the schema at \/expires/,
    );
    expect(await raw.exists(`${bindings.prefix}bob`)).toBe(0);
    await raw.set(`${bindings.prefix}carol`, '{"contact":42}');
    await expect(bindings.get('carol')).rejects.toMatchObject({
      code: 'SWB_KV_DESERIALIZE',
      key: `${bindings.prefix}carol`,
    });
  });

  it('answers ping and the readiness check, and closes idempotently', async () => {
    const kv = open();
    await kv.ready();
    const health = await kv.ping();
    expect(health.mode).toBe(mode);
    expect(health.primaries).toHaveLength(mode === 'cluster' ? 3 : 1);
    await kv.readinessCheck().check(new AbortController().signal);
    const records = kv.records<number>('r');
    await records.set('a', 1);
    const closing = kv.close();
    expect(kv.close()).toBe(closing);
    await closing;
    await kv.close();
    await expect(records.get('a')).rejects.toMatchObject({
      code: 'SWB_KV_CLOSED',
      retryable: false,
    });
    await expect(kv.ping()).rejects.toMatchObject({ code: 'SWB_KV_CLOSED' });
    kv.destroy();
  });
});

describe('kv replica reads on the Redis Cluster', () => {
  async function replicaGets(): Promise<number> {
    let total = 0;
    for (const node of info.redisCluster.nodes) {
      const direct = new Redis({ host: node.host, port: node.port, lazyConnect: true });
      try {
        const replication = await direct.info('replication');
        if (!replication.includes('role:slave')) continue;
        const stats = await direct.info('commandstats');
        total += Number(/cmdstat_get:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      } finally {
        direct.disconnect();
      }
    }
    return total;
  }

  it('reads hot data from replicas, which catch up with a write eventually', async () => {
    const prefix = `${uniqueName('kvrep')}:`;
    const kv = createKv({ nodes: clusterSeeds, keyPrefix: prefix });
    try {
      const hot = kv.namespace('hot', { readFrom: 'replica' }).records<{ v: number }>('cfg');
      const before = await replicaGets();
      for (let i = 1; i <= 5; i++) {
        await hot.set(`k${i}`, { v: i });
        // A replica may lag behind: poll until the write shows, never assume it has.
        expect(
          await eventually(
            () => hot.get(`k${i}`),
            (v) => v?.v === i,
          ),
        ).toEqual({ v: i });
      }
      expect((await replicaGets()) - before).toBeGreaterThanOrEqual(5);
      // update() reads the primary even here, so it never loops on a stale replica.
      expect(await hot.update('k1', (c) => ({ v: (c?.v ?? 0) + 1 }))).toEqual({ v: 2 });
    } finally {
      await kv.close();
      await deleteUnder(rawCluster, prefix);
    }
  });

  it('reads from replicas for the whole client when the config says so', async () => {
    const prefix = `${uniqueName('kvrep')}:`;
    const kv = createKv({ nodes: clusterSeeds, keyPrefix: prefix, readFrom: 'replica' });
    try {
      const records = kv.records<string>('r');
      await records.set('a', 'x');
      expect(
        await eventually(
          () => records.get('a'),
          (v) => v === 'x',
        ),
      ).toBe('x');
      const primary = kv.records<string>('r', { readFrom: 'primary' });
      expect(await primary.get('a')).toBe('x');
    } finally {
      await kv.close();
      await deleteUnder(rawCluster, prefix);
    }
  });
});
