import { Cluster } from 'ioredis';
import { startScratchCluster, type ScratchCluster } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  countSlots,
  createClusterAdmin,
  KvClusterErrorCode,
  slotsOf,
  type ApplyProgress,
  type ClusterAdmin,
  type ClusterLayout,
} from '../src/kv/cluster/index.js';
import { SLOT_COUNT } from '../src/kv/index.js';

const info = inject('sandbox');
const address = (n: { readonly host: string; readonly port: number }): string =>
  `${n.host}:${n.port}`;

describe('cluster admin on the sandbox cluster (read-only)', () => {
  let admin: ClusterAdmin;
  let client: Cluster;
  const prefix = uniqueName('kvadm');

  beforeAll(() => {
    admin = createClusterAdmin({ nodes: info.redisCluster.nodes.map(address) });
    client = new Cluster(info.redisCluster.nodes.map((n) => ({ host: n.host, port: n.port })));
  });
  afterAll(async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `${prefix}:${i}`);
    await Promise.all(keys.map((k) => client.del(k)));
    await client.quit();
    await admin.close();
  });

  it('reports three availability groups of two that pass the seed rules', async () => {
    const layout = await admin.layout();
    expect(layout.groups).toHaveLength(3);
    expect(layout.groups.map((g) => g.size)).toEqual([2, 2, 2]);
    expect(layout.groups.reduce((sum, g) => sum + g.slotCount, 0)).toBe(SLOT_COUNT);
    const ports = layout.groups.flatMap((g) => g.members.map((m) => Number(m.split(':')[1])));
    expect(ports.sort()).toEqual(info.redisCluster.nodes.map((n) => n.port).sort());
    for (const group of layout.groups) {
      expect(group.memoryUsedBytes).toBeGreaterThan(100_000);
      expect(group.keys).toBeTypeOf('number');
      expect(group.replicas[0]?.role).toBe('replica');
    }
    expect(layout.findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('plans a fourth group with the keys and bytes it would move, without touching the cluster', async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `${prefix}:${i}`);
    await Promise.all(keys.map((k) => client.set(k, 'x'.repeat(200))));
    const plan = await admin.plan({
      addGroups: [{ primary: '127.0.0.1:1', replicas: ['127.0.0.1:2'] }],
    });
    expect(plan.estimate.slots).toBe(4096);
    expect(plan.after.map((g) => g.slotCount)).toEqual([4096, 4096, 4096, 4096]);
    const moving = new Set(plan.moves.flatMap((m) => slotsOf(m.slots)));
    const slots = await Promise.all(keys.map((k) => client.cluster('KEYSLOT', k)));
    const ours = slots.filter((s) => moving.has(s)).length;
    expect(ours).toBeGreaterThan(300);
    expect(plan.estimate.keys).toBeGreaterThanOrEqual(ours);
    expect(plan.estimate.bytes).toBeGreaterThan(ours * 200);
    expect(plan.estimate.sampledKeys).toBeGreaterThan(0);
    // Planning moved nothing.
    const after = await admin.layout();
    expect(after.groups.map((g) => g.slotCount)).toEqual(plan.before.map((g) => g.slotCount));
  });

  it('plans nothing when the slots are already even', async () => {
    const plan = await admin.plan();
    expect(plan.moves).toEqual([]);
    expect(plan.steps).toEqual([]);
  });
});

const running = new Set<Load>();
afterEach(async () => {
  await Promise.all([...running].map((load) => load.stop()));
});

/** Writes and reads keys on its own until stopped; remembers the last value acknowledged per key. */
class Load {
  readonly acknowledged = new Map<string, string>();
  /** The first errors met (a few are enough to see what went wrong). */
  readonly errors: string[] = [];
  errorCount = 0;
  mismatches = 0;
  ops = 0;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(client: Cluster, prefix: string, workers = 8, keysPerWorker = 400) {
    running.add(this);
    this.#done = Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let n = 0; !this.#stopped; n++) {
          const key = `${prefix}:${w}:${n % keysPerWorker}`;
          const value = String(n);
          try {
            await client.set(key, value);
            this.acknowledged.set(key, value);
            if ((await client.get(key)) !== value) this.mismatches++;
          } catch (error) {
            this.errorCount++;
            if (this.errors.length < 10) this.errors.push(String(error));
            // Pace a failing loop: it must not spin (and fill memory) while the cluster heals.
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          this.ops++;
        }
      }),
    ).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    running.delete(this);
    await this.#done;
  }
}

async function missingOrWrong(
  client: Cluster,
  expected: ReadonlyMap<string, string>,
): Promise<string[]> {
  const wrong: string[] = [];
  const entries = [...expected];
  for (let i = 0; i < entries.length; i += 500) {
    const chunk = entries.slice(i, i + 500);
    const values = await Promise.all(chunk.map(([key]) => client.get(key)));
    chunk.forEach(([key, value], j) => {
      if (values[j] !== value) wrong.push(`${key}=${String(values[j])} (want ${value})`);
    });
  }
  return wrong;
}

function slotCounts(layout: ClusterLayout): number[] {
  return layout.groups.map((g) => g.slotCount);
}

describe('rebalancing a cluster of its own under load', () => {
  let scratch: ScratchCluster;
  let admin: ClusterAdmin;
  let client: Cluster;
  const expected = new Map<string, string>();

  beforeAll(async () => {
    scratch = await startScratchCluster(info, { nodes: 8 });
    const members = await scratch.create(3, 1);
    admin = createClusterAdmin({ nodes: members.map(address) });
    client = new Cluster(
      members.map((n) => ({ host: n.host, port: n.port })),
      {
        redisOptions: { connectTimeout: 2000 },
      },
    );
    for (let i = 0; i < 20_000; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, async (_, j) => {
          const key = `pre:${i + j}`;
          await client.set(key, `v${i + j}`);
          expected.set(key, `v${i + j}`);
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await client.quit();
    await admin.close();
    await scratch.stop();
  });

  it('grows from 3 groups to 4 under load, survives an abort and a crash mid-slot, and loses no key', async () => {
    const [, , , , , , newPrimary, newReplica] = scratch.nodes.map(address);
    if (newPrimary === undefined || newReplica === undefined) throw new Error('8 nodes expected');
    const plan = await admin.plan({ addGroups: [{ primary: newPrimary, replicas: [newReplica] }] });
    expect(plan.estimate.slots).toBe(4096);
    // About a quarter of the 20,000 keys live in the slots that move.
    expect(plan.estimate.keys).toBeGreaterThan(4000);
    expect(plan.estimate.keys).toBeLessThan(6000);

    const load = new Load(client, 'load');
    const events: ApplyProgress[] = [];

    // First run: abort after 500 slots.
    const abort = new AbortController();
    const first = admin.apply(plan, {
      signal: abort.signal,
      onProgress: (event) => {
        events.push(event);
        if (event.phase === 'migrate' && event.slotsDone === 500) abort.abort();
      },
    });
    const failure: unknown = await first.catch((error: unknown) => error);
    expect(failure instanceof Error ? failure.message : failure).toMatch(/aborted/);
    expect(failure).toMatchObject({ code: KvClusterErrorCode.Aborted, retryable: true });
    expect(events.flatMap((e) => (e.phase === 'meet' ? [e.skipped] : []))).toEqual([false, false]);
    const midway = await admin.layout();
    expect(midway.groups).toHaveLength(4);
    // Each giver's lane finishes the slot it has in hand: 500 plus at most one per lane.
    const placedBefore = slotCounts(midway).sort((a, b) => a - b)[0] ?? 0;
    expect(placedBefore).toBeGreaterThanOrEqual(500);
    expect(placedBefore).toBeLessThanOrEqual(503);

    // Then a "crash" mid-slot: the next slot's migration started by hand and cut off.
    const receiver = midway.groups.find((g) => g.members.includes(newPrimary));
    const nextMove = plan.moves.find((m) => {
      const owned = new Set(slotsOf(receiver?.slots ?? []));
      return slotsOf(m.slots).some((s) => !owned.has(s));
    });
    const owned = new Set(slotsOf(receiver?.slots ?? []));
    const openSlot = slotsOf(nextMove?.slots ?? []).find((s) => !owned.has(s));
    const giver = midway.groups.find(
      (g) => openSlot !== undefined && slotsOf(g.slots).includes(openSlot),
    );
    if (receiver === undefined || giver === undefined || openSlot === undefined)
      throw new Error('no open slot found');
    const raw = { giver: giver.primary.address, receiver: receiver.primary.address };
    const { Redis } = await import('ioredis');
    const [gh, gp] = raw.giver.split(':');
    const [rh, rp] = raw.receiver.split(':');
    const giverConn = new Redis({ host: gh, port: Number(gp) });
    const receiverConn = new Redis({ host: rh, port: Number(rp) });
    try {
      await receiverConn.cluster('SETSLOT', openSlot, 'IMPORTING', giver.id);
      await giverConn.cluster('SETSLOT', openSlot, 'MIGRATING', receiver.id);
      const keys = await giverConn.cluster('GETKEYSINSLOT', openSlot, 1);
      if (keys.length > 0) {
        await giverConn.call('MIGRATE', [rh ?? '', Number(rp), '', 0, 5000, 'KEYS', ...keys]);
      }
    } finally {
      giverConn.disconnect();
      receiverConn.disconnect();
    }
    const open = await admin.layout();
    // Our slot is open on both ends; lanes the abort caught inside a slot left theirs open too.
    const states = open.openSlots.filter((o) => o.slot === openSlot).map((o) => o.state);
    expect(states.sort()).toEqual(['importing', 'migrating']);
    expect(open.openSlots.length).toBeLessThanOrEqual(2 * 4);
    expect(open.findings.map((f) => f.code)).toContain('slots-open');

    // Second run resumes: skips the joins and the 500 placed slots, finishes the open one.
    const resumed = await admin.apply(plan);
    expect(resumed.nodesAdded).toBe(0);
    expect(resumed.slotsAlreadyPlaced).toBe(placedBefore);
    expect(resumed.slotsMoved).toBe(4096 - placedBefore);

    await load.stop();
    expect(load.ops).toBeGreaterThan(1000);
    expect(load.errors).toEqual([]);
    expect(load.mismatches).toBe(0);

    const layout = resumed.layout;
    expect(slotCounts(layout)).toEqual([4096, 4096, 4096, 4096]);
    expect(layout.groups.map((g) => g.size)).toEqual([2, 2, 2, 2]);
    expect(layout.openSlots).toEqual([]);
    expect(layout.findings).toEqual([]);
    for (const [key, value] of load.acknowledged) expected.set(key, value);
    expect(await missingOrWrong(client, expected)).toEqual([]);
    process.stderr.write(
      `[kv-cluster] grow 3→4 AGs: ${resumed.slotsMoved} slots, ${resumed.keysMoved} keys in ${(resumed.elapsedMs / 1000).toFixed(1)} s ` +
        `under ${load.ops} load ops, 0 client errors\n`,
    );
  }, 180_000);

  it('adds a replica (an unequal layout warns), removes it again, then shrinks back to 3 groups under load', async () => {
    const layout = await admin.layout();
    const spare = layout.groups.find((g) =>
      g.members.includes(address(scratch.nodes[0] ?? { host: '', port: 0 })),
    );
    if (spare === undefined) throw new Error('no group holds the first node');
    const extra = address(scratch.nodes[6] ?? { host: '', port: 0 });
    const newGroup = layout.groups.find((g) => g.members.includes(extra));
    if (newGroup === undefined) throw new Error('the added group is missing');

    const load = new Load(client, 'load2');
    // Shrink: retire the group added by the previous test.
    const shrink = await admin.plan({ removeGroups: [extra] });
    expect(shrink.estimate.slots).toBe(4096);
    const shrunk = await admin.apply(shrink);
    expect(shrunk.nodesRemoved).toBe(2);
    expect(slotCounts(shrunk.layout).sort()).toEqual([5461, 5461, 5462]);
    expect(shrunk.layout.nodes).toHaveLength(6);

    // A retired node is empty and free again: join it as a third member of one group.
    const grow = await admin.plan({ addReplicas: [{ group: spare.id, node: extra }] });
    expect(grow.findings.map((f) => f.code)).toEqual(['ag-unequal']);
    const grown = await admin.apply(grow);
    expect(grown.layout.groups.find((g) => g.id === spare.id)?.size).toBe(3);
    expect(grown.layout.findings.map((f) => f.code)).toEqual(['ag-unequal']);

    const back = await admin.apply(await admin.plan({ removeReplicas: [extra] }));
    expect(back.nodesRemoved).toBe(1);
    expect(back.layout.groups.map((g) => g.size)).toEqual([2, 2, 2]);
    expect(back.layout.findings).toEqual([]);

    await load.stop();
    expect(load.errors).toEqual([]);
    expect(load.mismatches).toBe(0);
    for (const [key, value] of load.acknowledged) expected.set(key, value);
    expect(await missingOrWrong(client, expected)).toEqual([]);
    expect(countSlots(back.layout.unassignedSlots)).toBe(0);
  }, 180_000);

  it('refuses to join a node that holds data', async () => {
    const stray = scratch.nodes[7];
    if (stray === undefined) throw new Error('8 nodes expected');
    const { Redis } = await import('ioredis');
    const conn = new Redis({ host: stray.host, port: stray.port });
    try {
      // A node left over from elsewhere: it serves a slot of its own and holds a key there.
      const slot = await conn.cluster('KEYSLOT', 'stray');
      await conn.config('SET', 'cluster-require-full-coverage', 'no');
      await conn.cluster('ADDSLOTS', slot);
      // cluster_state turns ok a moment after the slot is assigned.
      for (let tries = 0; ; tries++) {
        try {
          await conn.set('stray', '1');
          break;
        } catch (error) {
          if (tries > 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      conn.disconnect();
    }
    const first = address(scratch.nodes[0] ?? stray);
    const plan = await admin.plan({ addReplicas: [{ group: first, node: address(stray) }] });
    const refused: unknown = await admin.apply(plan).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: KvClusterErrorCode.NodeNotEmpty, retryable: false });
    expect(String(refused)).toMatch(
      /not an empty node \(knows 1 nodes, 1 slots assigned, 1 keys\)/,
    );
    // Nothing changed.
    expect((await admin.layout()).nodes).toHaveLength(6);
  });
});
