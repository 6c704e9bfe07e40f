import { Type } from '@switchboard/runtime';
import { createKv, isKvError, type KvConfig } from '@switchboard/storage';

const Binding = Type.Object({ contact: Type.String(), expires: Type.Integer({ minimum: 0 }) });

/**
 * Register a phone, count its REGISTERs in a flood window, track a call's legs together, and
 * list the registered users. `config` is the daemons' `kv` configuration (`SWB_KV_NODES`): the
 * same code runs on a Redis Cluster or, with `mode: 'standalone'`, on one Redis server.
 */
export async function kvExample(config: KvConfig): Promise<string[]> {
  const kv = createKv(config);
  try {
    // Typed records, checked against the schema on write and read, gone after their TTL.
    const bindings = kv.records('bindings', { schema: Binding, ttlMs: 3_600_000 });
    await bindings.set('alice', { contact: 'sip:alice@10.0.0.7:5060', expires: 3600 });
    const alice = await bindings.get('alice'); // { contact, expires } | undefined

    // A flood window: the TTL starts with the first REGISTER from this address.
    const flood = kv.counters('flood', { ttlMs: 10_000 });
    if ((await flood.incr('203.0.113.9')) > 20) throw new Error('too many REGISTERs');

    // A colocated namespace keeps a call's keys in one hash slot: all-or-nothing updates.
    const legs = kv.namespace('call-42', { colocate: true }).records<string>('legs');
    await legs.mset([
      ['a', 'ringing'],
      ['b', 'ringing'],
    ]);
    const answered = await legs.compareAndSetMany([
      { key: 'a', expected: 'ringing', next: 'up' },
      { key: 'b', expected: 'ringing', next: 'up' },
    ]);
    if (!answered) throw new Error('a leg changed under us');

    // Read-modify-write without losing a concurrent writer's change.
    await bindings.update('alice', (current) => current && { ...current, expires: 1800 });

    try {
      await bindings.set('bob', { contact: 'sip:bob@10.0.0.8', expires: -1 });
    } catch (err) {
      if (!isKvError(err, 'Serialize')) throw err; // SWB_KV_SERIALIZE: the schema said no
    }

    const users: string[] = [];
    for await (const key of bindings.keys()) users.push(key); // every primary, once each
    await legs.deleteMany(['a', 'b']);
    return [alice?.contact ?? 'none', ...users];
  } finally {
    await kv.close();
  }
}
