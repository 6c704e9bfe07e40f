import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import { createKv, createSqlRouter, migrate, type Kv, type SqlRouter } from '@switchboard/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountStore, ha1, sipEdgeMigrations } from '../src/accounts.js';
import { silentLogger } from './sip-fixtures.js';

const info = inject('sandbox');
let schema: TestSchema;
let sql: SqlRouter;
let kv: Kv;

beforeAll(async () => {
  schema = await createTestSchema(info, 'sipacct');
  sql = createSqlRouter({
    primary: schema.primaryUri,
    replicas: schema.replicaUris,
    pool: { connectionLimit: 4, timezone: 'Z', dateStrings: true },
  });
  await migrate(sql, [sipEdgeMigrations]);
  kv = createKv({
    nodes: info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`),
    keyPrefix: `${uniqueName('sipa')}:`,
  });
});

afterAll(async () => {
  await Promise.allSettled([sql.close(), kv.close()]);
  await schema.drop();
});

describe('the account store', () => {
  it('stores both HA1s and never the password, and upserts', async () => {
    const accounts = createAccountStore({ sql, kv, logger: silentLogger });
    expect(
      await accounts.add({ username: 'alice', domain: 'Example.COM', password: 'secret one' }),
    ).toEqual({
      created: true,
    });
    const [rows] = await sql.write('SELECT * FROM sip_account');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      username: 'alice',
      domain: 'example.com',
      ha1_md5: ha1('MD5', 'alice', 'example.com', 'secret one'),
      ha1_sha256: ha1('SHA-256', 'alice', 'example.com', 'secret one'),
      enabled: 1,
    });
    expect(JSON.stringify(rows)).not.toContain('secret one');
    expect(
      await accounts.add({ username: 'alice', domain: 'example.com', password: 'secret two' }),
    ).toEqual({
      created: false,
    });
    expect((await accounts.get('alice', 'example.com'))?.ha1Md5).toBe(
      ha1('MD5', 'alice', 'example.com', 'secret two'),
    );
  });

  it('refuses bad usernames, domains and passwords with stable codes', async () => {
    const accounts = createAccountStore({ sql, kv, logger: silentLogger });
    await expect(
      accounts.add({ username: 'a b', domain: 'example.com', password: 'long enough' }),
    ).rejects.toMatchObject({
      code: 'SWB_SIP_INVALID_ACCOUNT',
      field: 'username',
    });
    await expect(
      accounts.add({ username: 'bob', domain: 'exa mple', password: 'long enough' }),
    ).rejects.toMatchObject({
      code: 'SWB_SIP_INVALID_ACCOUNT',
      field: 'domain',
    });
    const err: unknown = await accounts
      .add({ username: 'bob', domain: 'example.com', password: 'short' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SWB_SIP_INVALID_ACCOUNT', field: 'password' });
    expect((err as Error).message).not.toContain('short');
    await expect(accounts.setEnabled('nobody', 'example.com', false)).rejects.toMatchObject({
      code: 'SWB_SIP_ACCOUNT_NOT_FOUND',
    });
  });

  it('caches lookups (misses too) and sees its own changes at once on every edge', async () => {
    const edgeA = createAccountStore({ sql, kv, cacheTtlMs: 60_000, logger: silentLogger });
    const edgeB = createAccountStore({ sql, kv, cacheTtlMs: 60_000, logger: silentLogger });
    expect(await edgeB.get('carol', 'example.com')).toBeUndefined(); // a cached miss
    await edgeA.add({ username: 'carol', domain: 'example.com', password: 'carol pass' });
    expect((await edgeB.get('carol', 'example.com'))?.enabled).toBe(true);
    await edgeA.setEnabled('carol', 'example.com', false);
    expect((await edgeB.get('carol', 'example.com'))?.enabled).toBe(false);
    // A change behind the store's back is not seen while cached: the cache is what edges read.
    await sql.write("UPDATE sip_account SET enabled = 1 WHERE username = 'carol'");
    expect((await edgeB.get('carol', 'example.com'))?.enabled).toBe(false);
    expect(await edgeA.remove('carol', 'example.com')).toBe(true);
    expect(await edgeB.get('carol', 'example.com')).toBeUndefined();
    expect(await edgeA.remove('carol', 'example.com')).toBe(false);
  });

  it('reads through a replica once the cache entry expires', async () => {
    const accounts = createAccountStore({ sql, kv, cacheTtlMs: 200, logger: silentLogger });
    await accounts.add({ username: 'dave', domain: 'example.org', password: 'dave pass' });
    await sql.write("UPDATE sip_account SET enabled = 0 WHERE username = 'dave'");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The replica may lag a moment behind the primary.
    let enabled: boolean | undefined = true;
    for (let i = 0; i < 50 && enabled !== false; i++) {
      enabled = (await accounts.get('dave', 'example.org'))?.enabled;
      if (enabled !== false) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(enabled).toBe(false);
  });

  it('lists accounts by domain without their hashes', async () => {
    const accounts = createAccountStore({ sql, kv, logger: silentLogger });
    await accounts.add({ username: 'erin', domain: 'list.example', password: 'erin pass' });
    await accounts.add({
      username: 'bert',
      domain: 'list.example',
      password: 'bert pass',
      enabled: false,
    });
    const listed = await accounts.list({ domain: 'list.example' });
    expect(listed.map((a) => [a.username, a.enabled])).toEqual([
      ['bert', false],
      ['erin', true],
    ]);
    expect(Object.keys(listed[0] ?? {})).toEqual([
      'username',
      'domain',
      'enabled',
      'createdAt',
      'updatedAt',
    ]);
    expect((await accounts.list()).length).toBeGreaterThanOrEqual(2);
  });

  it('is importable without drachtio-srf', async () => {
    const source = await import('node:fs/promises').then((fs) =>
      fs.readFile(new URL('../src/accounts.ts', import.meta.url), 'utf8'),
    );
    expect(source).not.toMatch(/from ['"]drachtio-srf/);
  });
});
