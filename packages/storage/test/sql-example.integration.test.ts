import { readFile } from 'node:fs/promises';
import { createTestSchema } from '@switchboard/sandbox/testing';
import { expect, inject, it } from 'vitest';
import { accountsExample } from '../examples/sql.js';

it('runs the README example: the one-line move from a mysql2 pool to the router', async () => {
  const schema = await createTestSchema(inject('sandbox'), 'sqlex');
  try {
    const names = await accountsExample({
      primary: schema.primaryUri,
      replicas: schema.replicaUris,
    });
    expect(names).toEqual(['alice']);
  } finally {
    await schema.drop();
  }
});

it('shows the example in the README verbatim', async () => {
  const [readme, example] = await Promise.all([
    readFile(new URL('../README.md', import.meta.url), 'utf8'),
    readFile(new URL('../examples/sql.ts', import.meta.url), 'utf8'),
  ]);
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
