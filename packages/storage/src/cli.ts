#!/usr/bin/env node
// `switchboard-migrate` (`npm run migrate`): applies the schema migrations to the SQL primary
// named by SWB_SQL_PRIMARY (or --sql.primary=…), in order, idempotently, under a lock.
import { ConfigError, exitConfigError, loadConfig, redactUri } from '@switchboard/runtime';
import { migrateConfigSchema } from './sql/migrate-config.js';
import { migrate } from './sql/migrations.js';
import { createSqlRouter } from './sql/router.js';
import { storageMigrations } from './sql/storage-migrations.js';

const args = process.argv.slice(2);
const command = args[0]?.startsWith('--') === false ? args.shift() : 'migrate';
if (command !== 'migrate') {
  console.error(
    `unknown command ${String(command)}; usage: switchboard-migrate [--sql.primary=URI]`,
  );
  process.exit(64);
}

let config;
try {
  ({ config } = loadConfig(migrateConfigSchema, { env: process.env, argvOverrides: args }));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(exitConfigError);
}

const router = createSqlRouter({ primary: config.sql.primary, causal: { mode: 'none' } });
try {
  const result = await migrate(router, [storageMigrations]);
  console.log(
    `${redactUri(config.sql.primary)}: ${result.applied.length} migration(s) applied, ${result.skipped} already applied`,
  );
  for (const id of result.applied) console.log(`  applied ${id}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
} finally {
  await router.close();
}
