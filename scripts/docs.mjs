#!/usr/bin/env node
// `npm run docs`: regenerates the configuration reference in docs/configuration.md, between its
// `config-reference` markers, from the daemons' config schemas as built (the npm script builds
// first). Prettier formats the file, as `npm run format` would. test/config-reference.test.ts
// renders the same sections from the sources and fails when the file is out of date.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { controllerConfigReference } from '@switchboard/controller';
import { queueConfigReference } from '@switchboard/queue';
import { renderConfigReference, replaceConfigReference } from '@switchboard/runtime';
import { sipEdgeConfigReference } from '@switchboard/sip-edge';
import { migrateConfigReference } from '@switchboard/storage';
import { workerConfigReference } from '@switchboard/worker';
import * as prettier from 'prettier';

const file = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

// The order of the docs; the test lists the same sections.
const sections = [
  controllerConfigReference,
  queueConfigReference,
  workerConfigReference,
  sipEdgeConfigReference,
  migrateConfigReference,
];

const current = await readFile(file, 'utf8');
const updated = await prettier.format(
  replaceConfigReference(current, renderConfigReference(sections)),
  { ...(await prettier.resolveConfig(file)), filepath: file },
);
if (updated === current) {
  console.log(`${file}: up to date`);
} else {
  await writeFile(file, updated);
  console.log(`${file}: configuration reference regenerated`);
}
