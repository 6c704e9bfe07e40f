import { readFile } from 'node:fs/promises';
import { Cluster } from 'ioredis';
import { startScratchCluster, type ScratchCluster } from '@switchboard/sandbox';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { addGroupExample } from '../examples/kv-cluster.js';

const info = inject('sandbox');
const address = (n: { readonly host: string; readonly port: number }): string =>
  `${n.host}:${n.port}`;
let scratch: ScratchCluster;

beforeAll(async () => {
  // Slice 1: its own ports, beside kv-cluster.integration.test.ts's slice 0.
  scratch = await startScratchCluster(info, { nodes: 8, slice: 1 });
  await scratch.create(3, 1);
}, 60_000);

afterAll(async () => {
  await scratch.stop();
});

it('adds a fourth availability group, keys and all', async () => {
  const seeds = scratch.nodes.slice(0, 6).map(address);
  const client = new Cluster(
    scratch.nodes.slice(0, 6).map((n) => ({ host: n.host, port: n.port })),
  );
  try {
    await Promise.all(Array.from({ length: 2000 }, (_, i) => client.set(`k${i}`, String(i))));
    const lines: string[] = [];
    const [primary, replica] = scratch.nodes.slice(6).map(address);
    if (primary === undefined || replica === undefined) throw new Error('8 nodes expected');
    const result = await addGroupExample(seeds, { primary, replicas: [replica] }, (line) =>
      lines.push(line),
    );
    expect(lines.filter((l) => l.startsWith('AG '))).toHaveLength(3);
    expect(lines.some((l) => l.startsWith('error'))).toBe(false);
    expect(lines).toContainEqual(expect.stringMatching(/^plan: move 4096 slots, ~\d+ keys/));
    expect(lines).toContainEqual(expect.stringMatching(/^moved 2048\/4096 slots, \d+ keys$/));
    expect(result.layout.groups.map((g) => g.slotCount)).toEqual([4096, 4096, 4096, 4096]);
    expect(result.keysMoved).toBeGreaterThan(300);
    const values = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.get(`k${i}`)));
    expect(values).toEqual(Array.from({ length: 2000 }, (_, i) => String(i)));
  } finally {
    await client.quit();
  }
}, 60_000);

it('is quoted verbatim in the README', async () => {
  const [readme, example] = await Promise.all([
    readFile(new URL('../README.md', import.meta.url), 'utf8'),
    readFile(new URL('../examples/kv-cluster.ts', import.meta.url), 'utf8'),
  ]);
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
