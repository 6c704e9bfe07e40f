import { createTestSchema, type TestSchema } from '@switchboard/sandbox/testing';
import { createPool, type Pool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SqlMigrationError, migrate, type SqlMigrationSet } from '../src/index.js';

let schema: TestSchema;
let pool: Pool;

const cdrs: SqlMigrationSet = {
  package: 'sample-cdrs',
  migrations: [
    {
      id: '0001-create-cdrs',
      up: ['CREATE TABLE cdrs (id BIGINT PRIMARY KEY, caller VARCHAR(64) NOT NULL)'],
    },
    {
      id: '0002-add-duration',
      up: async (connection) => {
        await connection.query('ALTER TABLE cdrs ADD COLUMN duration_ms INT NOT NULL DEFAULT 0');
      },
    },
  ],
};
const accounts: SqlMigrationSet = {
  package: 'sample-accounts',
  migrations: [{ id: '0001-create-accounts', up: ['CREATE TABLE accounts (id INT PRIMARY KEY)'] }],
};

beforeAll(async () => {
  schema = await createTestSchema(inject('sandbox'), 'sqlmig');
  pool = createPool({ uri: schema.primaryUri, connectionLimit: 4 });
});

afterAll(async () => {
  await pool.end();
  await schema.drop();
});

describe('schema migrations', () => {
  it('applies every set in order once, and nothing on the second run', async () => {
    const first = await migrate(pool, [cdrs, accounts]);
    expect(first.applied).toEqual([
      'sample-cdrs/0001-create-cdrs',
      'sample-cdrs/0002-add-duration',
      'sample-accounts/0001-create-accounts',
    ]);
    const second = await migrate(pool, [cdrs, accounts]);
    expect(second).toEqual({ applied: [], skipped: 3 });
    await pool.query('INSERT INTO cdrs (id, caller, duration_ms) VALUES (1, ?, 42)', ['alice']);
  });

  it('lets two processes race without applying anything twice', async () => {
    const set: SqlMigrationSet = {
      package: 'sample-race',
      migrations: [{ id: '0001', up: ['CREATE TABLE race (id INT PRIMARY KEY)'] }],
    };
    const other = createPool({ uri: schema.primaryUri, connectionLimit: 1 });
    try {
      const results = await Promise.all([migrate(pool, [set]), migrate(other, [set])]);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 1]);
    } finally {
      await other.end();
    }
  });

  it('stops at a failing migration, records the ones before it, and resumes once it is fixed', async () => {
    const broken: SqlMigrationSet = {
      package: 'sample-broken',
      migrations: [
        { id: '0001', up: ['CREATE TABLE good (id INT PRIMARY KEY)'] },
        { id: '0002', up: ['CREATE TABLE oops ('] },
      ],
    };
    const error: unknown = await migrate(pool, [broken]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlMigrationError);
    expect(error).toMatchObject({
      code: 'SWB_SQL_MIGRATION_FAILED',
      migration: 'sample-broken/0002',
    });
    const fixed: SqlMigrationSet = {
      package: 'sample-broken',
      migrations: [
        { id: '0001', up: ['CREATE TABLE good (id INT PRIMARY KEY)'] },
        { id: '0002', up: ['CREATE TABLE oops (id INT PRIMARY KEY)'] },
      ],
    };
    expect(await migrate(pool, [fixed])).toEqual({ applied: ['sample-broken/0002'], skipped: 1 });
  });

  it('refuses a connection with no database selected', async () => {
    const noDatabase = createPool({
      uri: inject('sandbox').mariadb.primary.uri,
      connectionLimit: 1,
    });
    try {
      await expect(migrate(noDatabase, [accounts])).rejects.toMatchObject({
        code: 'SWB_SQL_CONFIG_INVALID',
        field: 'primary',
      });
    } finally {
      await noDatabase.end();
    }
  });

  it('refuses migration ids that do not increase', async () => {
    await expect(
      migrate(pool, [
        {
          package: 'sample-order',
          migrations: [
            { id: '0002', up: [] },
            { id: '0001', up: [] },
          ],
        },
      ]),
    ).rejects.toMatchObject({ code: 'SWB_SQL_CONFIG_INVALID' });
  });
});
