import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { killClusterPrimary, startClusterNode, type Endpoint } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import { Redis } from 'ioredis';
import { expect, inject, it } from 'vitest';
import { createKv, isKvError, keySlot } from '../../src/kv/index.js';

// Kills the primary of one Availability Group (shard) under steady load, measures how long
// calls on that shard's keys take to succeed again, and brings the node back as a replica so
// the cluster is whole for whatever runs next. The faults project runs this file alone.

const info = inject('sandbox');
const { nodeTimeoutMs } = info.redisCluster;
const seeds = info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`);

interface NodeLine {
  readonly id: string;
  readonly primaryId: string;
  readonly port: number;
  readonly flags: readonly string[];
  readonly slots: readonly (readonly [number, number])[];
}

async function clusterNodes(port: number): Promise<NodeLine[]> {
  const direct = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    const text = String(await direct.call('CLUSTER', 'NODES'));
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id = '', address = '', flags = '', primaryId = '', , , , , ...slots] = line
          .trim()
          .split(' ');
        return {
          id,
          primaryId,
          port: Number(address.split('@')[0]?.split(':').pop()),
          flags: flags.split(','),
          slots: slots
            .filter((s) => !s.startsWith('['))
            .map((s) => {
              const [from = '0', to = from] = s.split('-');
              return [Number(from), Number(to)] as const;
            }),
        };
      });
  } finally {
    direct.disconnect();
  }
}

async function infoOf(port: number, section: string): Promise<string> {
  const direct = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    return await direct.info(section);
  } finally {
    direct.disconnect();
  }
}

/** Resolves (with the time) when the server at `port` drops our connection. */
function watchDeath(port: number): { died: Promise<number>; stop(): void } {
  const watcher = new Redis({
    host: '127.0.0.1',
    port,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  watcher.on('error', () => undefined); // the close below is the signal; the error says nothing more
  const died = new Promise<number>((resolve) => {
    watcher.once('ready', () => {
      watcher.once('close', () => {
        resolve(performance.now());
      });
    });
  });
  return {
    died,
    stop: () => {
      watcher.disconnect();
    },
  };
}

/** Resolves (with the time) when the server at `port` reports the primary role. */
async function watchPromotion(port: number, until: () => boolean): Promise<number | undefined> {
  const direct = new Redis({ host: '127.0.0.1', port });
  try {
    while (!until()) {
      const role = (await direct.call('ROLE')) as unknown[];
      if (role[0] === 'master') return performance.now();
      await sleep(10);
    }
    return undefined;
  } finally {
    direct.disconnect();
  }
}

interface OpRecord {
  readonly target: boolean;
  readonly started: number;
  readonly ended: number;
  readonly ok: boolean;
}

it(
  'serves the killed shard’s keys again within cluster-node-timeout + 2 s of losing its primary',
  { timeout: 120_000 },
  async () => {
    // The primary killClusterPrimary(info, 0) will kill: the first by port with slots.
    const before = await clusterNodes(info.redisCluster.nodes[0]?.port ?? 0);
    const primaries = before
      .filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.length > 0)
      .sort((a, b) => a.port - b.port);
    const victim = primaries[0];
    if (victim === undefined) throw new Error('no cluster primary to kill');
    const inVictim = (slot: number): boolean =>
      victim.slots.some(([from, to]) => slot >= from && slot <= to);

    const prefix = `${uniqueName('kvfail')}:`;
    const kv = createKv({
      nodes: seeds,
      keyPrefix: prefix,
      // Long enough for a call to wait out the failover instead of failing.
      commandTimeoutMs: nodeTimeoutMs + 4000,
      failoverRetryDelayMs: 50,
    });
    const records = kv.records<{ n: number }>('load', { ttlMs: 600_000 });
    const all = Array.from({ length: 64 }, (_, i) => `key-${i}`);
    const targetKeys = all.filter((k) => inVictim(keySlot(`${records.prefix}${k}`)));
    const otherKeys = all.filter((k) => !targetKeys.includes(k));
    expect(targetKeys.length).toBeGreaterThan(5);
    expect(otherKeys.length).toBeGreaterThan(5);
    await kv.ready();

    const ops: OpRecord[] = [];
    const errors = new Map<string, number>();
    let running = true;
    let counter = 0;
    const one = async (key: string, target: boolean): Promise<void> => {
      const started = performance.now();
      try {
        const n = ++counter;
        await records.set(key, { n });
        await records.get(key);
        ops.push({ target, started, ended: performance.now(), ok: true });
      } catch (error) {
        ops.push({ target, started, ended: performance.now(), ok: false });
        const label = isKvError(error)
          ? `${error.code}${error.retryable ? '' : ' (not retryable)'}: ${error.message.replace(/"[^"]*"/g, '…')}`
          : String(error);
        errors.set(label, (errors.get(label) ?? 0) + 1);
      }
    };
    // Eight loops of set+get over both shards' keys, and a probe of the target shard every
    // 25 ms that does not wait for the one before, so a recovery is seen within 25 ms.
    const loops = Array.from({ length: 8 }, async (_, loop) => {
      let i = loop;
      while (running) {
        const target = i % 2 === 0;
        const keys = target ? targetKeys : otherKeys;
        await one(keys[i % keys.length] as string, target);
        i++;
      }
    });
    const probes: Promise<void>[] = [];
    let tick = 0;
    const prober = setInterval(() => {
      tick++;
      const target = tick % 2 === 0;
      const keys = target ? targetKeys : otherKeys;
      probes.push(one(keys[tick % keys.length] as string, target));
    }, 25);
    const replica = before.find((n) => n.primaryId === victim.id);
    if (replica === undefined) throw new Error(`no replica of ${victim.port}`);
    const promoted = watchPromotion(replica.port, () => !running);

    const watch = watchDeath(victim.port);
    let killed: Endpoint | undefined;
    let calledAt = 0;
    try {
      await sleep(500);
      calledAt = performance.now();
      killed = await killClusterPrimary(info, 0);
      expect(killed.port).toBe(victim.port);
      const killedAt = await watch.died;
      // Let the load run on the new primary for a while.
      await sleep(1000);
      running = false;
      clearInterval(prober);
      await Promise.all([...loops, ...probes]);

      const recovered = ops
        .filter((op) => op.target && op.ok && op.started >= killedAt)
        .reduce((first, op) => Math.min(first, op.ended), Number.POSITIVE_INFINITY);
      const recoveryMs = Math.round(recovered - killedAt);
      const okDuring = ops.filter((op) => op.ok && op.started >= killedAt && op.ended <= recovered);
      const failed = ops.filter((op) => !op.ok).length;
      const promotedAt = await promoted;
      const promotion =
        promotedAt === undefined
          ? 'replica promotion not seen'
          : `replica :${replica.port} promoted ${Math.round(promotedAt - killedAt)} ms after the kill`;
      process.stderr.write(
        `\nkv failover: first successful call on the killed shard ${recoveryMs} ms after the kill, ` +
          `${promotedAt === undefined ? '?' : Math.round(recovered - promotedAt)} ms after the promotion ` +
          `(bound ${nodeTimeoutMs + 2000} ms; ${promotion}; kill ${Math.round(killedAt - calledAt)} ms into killClusterPrimary); ` +
          `${ops.length} calls, ${failed} failed, ${okDuring.filter((op) => !op.target).length} ` +
          `on the other shards succeeded meanwhile\n` +
          (errors.size === 0
            ? 'kv failover: no client error surfaced\n'
            : [...errors].map(([label, n]) => `kv failover: ${n} × ${label}\n`).join('')),
      );
      expect(Number.isFinite(recovered)).toBe(true);
      // Redis itself promotes the replica 2.5–4.3 s after the kill with a 2 s node timeout
      // (PFAIL after the timeout, FAIL once gossip reaches a majority, then an election delay of
      // 500–1000 ms): when the promotion alone took longer than the bound, no client can meet
      // it, and what is checked is that this one adds at most 500 ms to Redis's failover.
      const bound =
        promotedAt === undefined
          ? nodeTimeoutMs + 2000
          : Math.max(nodeTimeoutMs + 2000, Math.round(promotedAt - killedAt) + 500);
      expect(recoveryMs).toBeLessThanOrEqual(bound);
      if (promotedAt !== undefined) expect(recovered - promotedAt).toBeLessThanOrEqual(500);
      // The other shards kept serving while this one failed over.
      expect(okDuring.filter((op) => !op.target).length).toBeGreaterThan(0);
      // Whatever surfaced says a retry can help.
      for (const label of errors.keys()) expect(label).not.toContain('not retryable');
    } finally {
      running = false;
      clearInterval(prober);
      watch.stop();
      await Promise.allSettled([...loops, ...probes, promoted]);
      await kv.close();
      if (killed !== undefined) await startClusterNode(info, killed);
    }

    // The cluster is whole again: the revived node is a linked replica, every node says ok.
    const revived = await infoOf(victim.port, 'replication');
    expect(revived).toMatch(/role:slave/);
    expect(revived).toMatch(/master_link_status:up/);
    for (const node of info.redisCluster.nodes) {
      expect(await infoOf(node.port, 'cluster')).toMatch(/cluster_enabled:1/);
      const direct = new Redis({ host: node.host, port: node.port, lazyConnect: true });
      try {
        expect(String(await direct.call('CLUSTER', 'INFO'))).toMatch(/cluster_state:ok/);
      } finally {
        direct.disconnect();
      }
    }
    const after = await clusterNodes(victim.port);
    expect(after.filter((n) => n.flags.includes('master') && n.slots.length > 0)).toHaveLength(3);
    expect(after.filter((n) => n.flags.some((f) => f === 'fail' || f === 'fail?'))).toEqual([]);

    // Clean up the test's keys through a fresh client.
    const cleanup = createKv({ nodes: seeds, keyPrefix: prefix });
    try {
      const keys: string[] = [];
      for await (const key of cleanup.keys()) keys.push(key.slice('load:'.length));
      await cleanup.records('load').deleteMany(keys);
      const left: string[] = [];
      for await (const key of cleanup.keys()) left.push(key);
      expect(left).toEqual([]);
    } finally {
      await cleanup.close();
    }
  },
);
