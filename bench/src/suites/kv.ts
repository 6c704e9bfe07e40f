import { Cluster } from 'ioredis';
import { uniqueName } from '@switchboard/sandbox/testing';
import { createKv, kvClientOptions, resolveKvConfig, type KvConfig } from '@switchboard/storage';
import { Better, type BenchSuite } from '../harness.js';
import { opsPerSecond } from '../measure.js';

const KEYS = 1000;
const CONCURRENCY = 16;

interface Binding {
  readonly contact: string;
  readonly expires: number;
  readonly userAgent: string;
}

const binding = (i: number): Binding => ({
  contact: `sip:user${i}@10.0.${i % 256}.${(i >> 8) % 256}:5060;transport=udp`,
  expires: 3600,
  userAgent: 'Switchboard bench',
});

/**
 * kv's hot paths against a bare ioredis Cluster client with the same options (timeouts,
 * retries, read routing) doing the same calls: prefix + key, GET + JSON.parse, JSON.stringify +
 * SET, on the same keys of the sandbox's Redis Cluster.
 */
export const kvSuite: BenchSuite = {
  name: 'kv',
  description: 'kv records get/set vs a bare ioredis Cluster client with the same options',
  async setup(context) {
    const info = await context.sandbox();
    const prefix = `${uniqueName('benchkv')}:`;
    const config: KvConfig = {
      nodes: info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`),
      keyPrefix: prefix,
    };
    const kv = createKv(config);
    const raw = new Cluster(
      info.redisCluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      kvClientOptions(resolveKvConfig(config)).cluster,
    );
    const records = kv.records<Binding>('bindings');
    const keys = Array.from({ length: KEYS }, (_, i) => `user${i}`);
    // The baseline builds each key as the kv client does (prefix + key), as any raw caller
    // with a key prefix must.
    const { prefix: recordPrefix } = records;
    await records.mset(keys.map((key, i) => [key, binding(i)] as const));
    await kv.ready();
    await new Promise<void>((resolve, reject) => {
      if (raw.status === 'ready') resolve();
      raw.once('ready', resolve);
      raw.once('error', reject);
    });

    let counter = 0;
    const next = (): number => (counter = (counter + 1) % KEYS);
    const value = binding(7);
    const loop = (op: () => Promise<unknown>) => () =>
      opsPerSecond(op, { durationMs: context.sampleMs, concurrency: CONCURRENCY });
    const expectFound = (found: unknown): void => {
      if (found === undefined || found === null)
        throw new Error('kv bench: a preloaded key is missing');
    };

    return {
      cases: [
        {
          name: 'get',
          unit: 'ops/s',
          better: Better.Higher,
          sample: loop(async () => {
            expectFound(await records.get(keys[next()] as string));
          }),
          baselines: [
            {
              name: 'raw-ioredis',
              goal: 0.95,
              sample: loop(async () => {
                const text = await raw.get(recordPrefix + (keys[next()] as string));
                expectFound(text === null ? null : (JSON.parse(text) as Binding));
              }),
            },
          ],
        },
        {
          name: 'set',
          unit: 'ops/s',
          better: Better.Higher,
          sample: loop(() => records.set(keys[next()] as string, value)),
          baselines: [
            {
              name: 'raw-ioredis',
              goal: 0.95,
              sample: loop(() =>
                raw.set(recordPrefix + (keys[next()] as string), JSON.stringify(value)),
              ),
            },
          ],
        },
      ],
      async close() {
        try {
          await records.deleteMany(keys);
        } finally {
          await Promise.all([kv.close(), raw.quit()]);
        }
      },
    };
  },
};
