import { readFile } from 'node:fs/promises';
import { uniqueName } from '@switchboard/sandbox/testing';
import { expect, inject, it } from 'vitest';
import { createKv } from '../src/kv/index.js';
import { kvExample } from '../examples/kv.js';

const info = inject('sandbox');

async function leftover(config: Parameters<typeof createKv>[0]): Promise<string[]> {
  const kv = createKv(config);
  try {
    const keys: string[] = [];
    for await (const key of kv.keys()) keys.push(key);
    // Remove what the example leaves behind (its bindings and flood counter).
    for (const key of keys) {
      const [collection = '', ...rest] = key.split(':');
      await kv.records(collection).delete(rest.join(':'));
    }
    return keys.sort();
  } finally {
    await kv.close();
  }
}

it.each([
  ['the sandbox Redis Cluster', info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`), {}],
  ['the standalone Redis', [`${info.redis.host}:${info.redis.port}`], { mode: 'standalone' }],
] as const)('runs the README example on %s', async (_where, nodes, extra) => {
  const config = { nodes, keyPrefix: `${uniqueName('kvex')}:`, ...extra };
  expect(await kvExample(config)).toEqual(['sip:alice@10.0.0.7:5060', 'alice']);
  expect(await leftover(config)).toEqual(['bindings:alice', 'flood:203.0.113.9']);
  expect(await leftover(config)).toEqual([]);
});

it('is quoted verbatim in the README', async () => {
  const [readme, example] = await Promise.all([
    readFile(new URL('../README.md', import.meta.url), 'utf8'),
    readFile(new URL('../examples/kv.ts', import.meta.url), 'utf8'),
  ]);
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
