import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { killClusterPrimary, startClusterNode, type Endpoint } from '../../src/index.js';
import { uniqueName } from '../../src/testing.js';

const info = inject('sandbox');

/** Clients opened by a test, closed after it; their errors are kept for assertions. */
const clients: (Redis | Cluster)[] = [];
const clientErrors: Error[] = [];

function track<T extends Redis | Cluster>(client: T): T {
  client.on('error', (error: Error) => clientErrors.push(error));
  clients.push(client);
  return client;
}

afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
  clientErrors.length = 0;
});

function nodeClient(endpoint: Endpoint): Redis {
  return track(new Redis({ host: endpoint.host, port: endpoint.port, maxRetriesPerRequest: 1 }));
}

async function clusterState(endpoint: Endpoint): Promise<string> {
  const text = String(await nodeClient(endpoint).call('CLUSTER', 'INFO'));
  return /cluster_state:(\w+)/.exec(text)?.[1] ?? '?';
}

/** The ports of the primaries that own the keys' slots. */
async function primariesHolding(keys: readonly string[]): Promise<number[]> {
  const [first] = info.redisCluster.nodes;
  if (first === undefined) throw new Error('no cluster node');
  const node = nodeClient(first);
  const ranges = (await node.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const ports = new Set<number>();
  for (const key of keys) {
    const slot = Number(await node.call('CLUSTER', 'KEYSLOT', key));
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (range) ports.add(range[2][1]);
  }
  return [...ports].sort();
}

describe('Redis in the sandbox', () => {
  it('answers PING on the standalone server and reads back a key', async () => {
    const redis = track(new Redis(info.redis.url));
    expect(await redis.ping()).toBe('PONG');
    const key = `${uniqueName('k')}:greeting`;
    await redis.set(key, 'hello', 'EX', 60);
    expect(await redis.get(key)).toBe('hello');
    await redis.del(key);
  });

  it('runs a cluster whose every node says cluster_state ok', async () => {
    expect(info.redisCluster.nodes).toHaveLength(6);
    const states = await Promise.all(info.redisCluster.nodes.map(clusterState));
    expect(states).toEqual(Array<string>(6).fill('ok'));
  });

  it('stores keys on every shard through an ioredis Cluster client and reads them back', async () => {
    const cluster = track(new Cluster([...info.redisCluster.nodes]));
    const prefix = uniqueName('k');
    // Different names hash to different slots, so the keys spread over the three shards.
    const keys = Array.from({ length: 30 }, (_, i) => `${prefix}:${i}`);
    for (const key of keys) await cluster.set(key, key, 'EX', 60);
    for (const key of keys) expect(await cluster.get(key)).toBe(key);
    expect(await primariesHolding(keys)).toHaveLength(3);
    for (const key of keys) await cluster.del(key);
  });
});

describe('Redis Cluster failover in the sandbox', () => {
  afterEach(async () => {
    // Whatever the test did (even a kill whose failover then timed out), the cluster goes back
    // to six healthy nodes for the tests after it; on a running node this only checks.
    for (const node of info.redisCluster.nodes) await startClusterNode(info, node);
  });

  it('promotes a replica when a primary is killed, and takes the old primary back as a replica', async () => {
    const startedAt = performance.now();
    const killed = await killClusterPrimary(info);
    const failoverMs = performance.now() - startedAt;
    // cluster-node-timeout, then the election and the gossip: a few seconds more.
    expect(failoverMs).toBeLessThan(info.redisCluster.nodeTimeoutMs + 8000);

    const survivors = info.redisCluster.nodes.filter((n) => n.port !== killed.port);
    expect(await Promise.all(survivors.map(clusterState))).toEqual(Array<string>(5).fill('ok'));

    const cluster = track(new Cluster([...survivors]));
    const key = `${uniqueName('k')}:after-failover`;
    await cluster.set(key, 'ok', 'EX', 60);
    expect(await cluster.get(key)).toBe('ok');

    const restarted = killed;
    await startClusterNode(info, restarted);
    const replication = await nodeClient(restarted).info('replication');
    expect(replication).toMatch(/role:slave/);
    expect(await Promise.all(info.redisCluster.nodes.map(clusterState))).toEqual(
      Array<string>(6).fill('ok'),
    );
  });
});
