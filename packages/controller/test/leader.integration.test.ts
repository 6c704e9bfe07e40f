import { createBus } from '@switchboard/queue';
import type { Topology } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createKv } from '@switchboard/storage';
import { ControllerStore, FencedError } from '../src/index.js';
import {
  joinToken,
  registration,
  startController,
  waitFor,
  type TestController,
} from './helpers.js';

const info = inject('sandbox');
const started: TestController[] = [];
const env = {
  SWB_LEADER_LEASE_TTL_MS: '2000',
  SWB_LEADER_RECONCILE_INTERVAL_MS: '200',
};

afterAll(async () => {
  await Promise.allSettled(started.map((c) => c.daemon.destroy()));
});

describe('several controllers', () => {
  it('serve the API together; one leads; killing it hands over within the lease TTL and no version is written or announced twice', async () => {
    const namespace = uniqueName('ha');
    // Every topology.changed of this platform, as the bus carries it.
    const bus = createBus({ urls: [info.rabbitmq.url], source: 'test/ha' });
    await bus.start();
    const announced: number[] = [];
    const queue = uniqueName('haq');
    await bus.subscribe(
      queue,
      ['topology.changed'],
      (event) => {
        const topology = event.payload.topology as unknown as Topology;
        if (ids.has(topology.leader?.nodeId ?? '')) announced.push(event.payload.version);
      },
      { messageTtlMs: 60_000, maxLength: 1000 },
    );
    const ids = new Set<string>();

    const a = await startController(info, namespace, env);
    started.push(a);
    ids.add(a.config.nodeId);
    await waitFor('a leader', () => (a.daemon.election.isLeader ? true : undefined));
    const b = await startController(info, namespace, env);
    started.push(b);
    ids.add(b.config.nodeId);
    expect(b.daemon.election.isLeader).toBe(false);

    const seen: number[] = [];
    b.daemon.feed.on('change', (t) => seen.push(t.version));

    // Both serve: a node registers through the follower, and the leader's topology shows it.
    const id = uniqueName('n');
    const registered = await b.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: registration(id, ['sip-edge']),
    });
    expect(registered.status).toBe(200);
    await waitFor('the follower to serve the new node', () =>
      b.daemon.feed.current?.nodes.some((n) => n.id === id) === true ? true : undefined,
    );
    const oldFence = a.daemon.election.lease?.fence ?? 0;
    expect(oldFence).toBeGreaterThan(0);

    // Kill the leader as a crash would: its lease is not released, so b must wait it out.
    const killedAt = Date.now();
    await a.daemon.destroy();
    await waitFor(
      'b to take over',
      () => (b.daemon.election.isLeader ? true : undefined),
      10_000,
      10,
    );
    const takeover = Date.now() - killedAt;
    // The lease is 2 s; b tries every quarter of it.
    expect(takeover).toBeLessThanOrEqual(2000 + 500 + 250);
    const newFence = b.daemon.election.lease?.fence ?? 0;
    expect(newFence).toBeGreaterThan(oldFence);
    await waitFor('a topology written by b', () =>
      b.daemon.feed.current?.leader?.nodeId === b.config.nodeId ? true : undefined,
    );

    // The old leader wakes up (a long GC pause, say) and tries to act with its old token.
    const kv = createKv({ nodes: a.config.kv.nodes, keyPrefix: 'swb:' });
    const stale = new ControllerStore(kv, { namespace, leaseTtlMs: 6000 });
    await expect(
      stale.writeTopology(oldFence, (current) => ({
        ...(current?.topology as Topology),
        version: (current?.topology.version ?? 0) + 1,
      })),
    ).rejects.toBeInstanceOf(FencedError);
    await kv.close();

    // Every version appears once, in order, on the feed and on the bus.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort((x, y) => x - y)).toEqual(seen);
    const counts = new Map<number, number>();
    for (const v of announced) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(announced.length).toBeGreaterThanOrEqual(2);
    process.stdout.write(
      `[controller] leader failover: ${takeover} ms after the kill (lease TTL 2000 ms)\n`,
    );
    await bus.close();
  });

  it('hands leadership over at once when the leader closes gracefully', async () => {
    const namespace = uniqueName('ha');
    const a = await startController(info, namespace, env);
    started.push(a);
    await waitFor('a leader', () => (a.daemon.election.isLeader ? true : undefined));
    const b = await startController(info, namespace, env);
    started.push(b);
    const closedAt = Date.now();
    await a.close();
    await waitFor(
      'b to take over',
      () => (b.daemon.election.isLeader ? true : undefined),
      5000,
      10,
    );
    // Released, not expired: the next campaign round (every 500 ms) takes it.
    expect(Date.now() - closedAt).toBeLessThan(1500);
  });
});
