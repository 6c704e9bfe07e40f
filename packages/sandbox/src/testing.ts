import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { SandboxError, SandboxErrorCode } from './errors.js';
import { waitForReplicaCatchUp } from './mariadb.js';
// Tests poll with the same helper the sandbox waits on its servers with.
export { waitFor, type WaitOptions } from './process.js';
import type { SandboxInfo } from './types.js';
// The augmentation below needs vitest's types in this program.
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Provided by packages/sandbox/test/global-setup.ts for the integration project. */
    sandbox: SandboxInfo;
  }
}

/**
 * A fresh random name: lowercase letters and digits only, starting with the prefix, at most 32
 * characters. Valid unquoted as a MariaDB schema, and as a RabbitMQ queue, an S3 bucket or a Redis
 * key prefix, so one helper serves every test's isolation.
 */
export function uniqueName(prefix = 't'): string {
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `uniqueName: prefix must be 1–16 lowercase letters or digits, starting with a letter; got ${JSON.stringify(prefix)}`,
    );
  }
  return `${prefix}${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** A schema of its own for one test, created on the primary (and so on every replica). */
export interface TestSchema {
  readonly name: string;
  /** The primary's URI with the schema as its database. */
  readonly primaryUri: string;
  /** Each replica's URI with the schema as its database. */
  readonly replicaUris: readonly string[];
  /** Drops the schema (on the primary; the drop replicates). Safe to call twice. */
  drop(): Promise<void>;
}

async function onPrimary(info: SandboxInfo, sql: string): Promise<void> {
  const connection = await createConnection({
    host: info.mariadb.primary.host,
    port: info.mariadb.primary.port,
    user: info.mariadb.user,
    password: info.mariadb.password,
  });
  try {
    await connection.query(sql);
  } finally {
    await connection.end();
  }
}

export async function createTestSchema(info: SandboxInfo, prefix = 'test'): Promise<TestSchema> {
  const name = uniqueName(prefix);
  await onPrimary(info, `CREATE DATABASE \`${name}\``);
  // The replica URIs name the schema: a connection to a replica that has not applied the CREATE
  // yet fails with 1049 Unknown database, so the schema is handed out only once every replica has it.
  await Promise.all(info.mariadb.replicas.map((_, index) => waitForReplicaCatchUp(info, index)));
  let dropped: Promise<void> | undefined;
  return {
    name,
    primaryUri: `${info.mariadb.primary.uri}/${name}`,
    replicaUris: info.mariadb.replicas.map((r) => `${r.uri}/${name}`),
    drop: () => (dropped ??= onPrimary(info, `DROP DATABASE IF EXISTS \`${name}\``)),
  };
}

/** Runs `fn` with a fresh schema and drops it afterwards, whatever `fn` did. */
export async function withSchema<T>(
  info: SandboxInfo,
  fn: (schema: TestSchema) => Promise<T>,
  prefix = 'test',
): Promise<T> {
  const schema = await createTestSchema(info, prefix);
  try {
    return await fn(schema);
  } finally {
    await schema.drop();
  }
}
