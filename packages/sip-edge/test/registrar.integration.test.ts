import { Secret } from '@switchboard/runtime';
import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import { createKv, createSqlRouter, migrate, type Kv, type SqlRouter } from '@switchboard/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  createAccountStore,
  createAuthenticator,
  createBindingStore,
  createFloodControl,
  createRegistrar,
  sipEdgeMigrations,
} from '../src/index.js';
import {
  authorize,
  challengeParams,
  exchange,
  registerText,
  silentLogger,
  type Sent,
} from './sip-fixtures.js';

const info = inject('sandbox');
const domain = 'edge.example';
const password = 'alice password';
let schema: TestSchema;
let sql: SqlRouter;
const clients: Kv[] = [];

/** One edge: its own kv client (as another process would have), the shared cluster and SQL. */
function edge(prefix: string, options: { maxRequests?: number } = {}) {
  const kv = createKv({
    nodes: info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`),
    keyPrefix: prefix,
  });
  clients.push(kv);
  const flood = createFloodControl({
    kv,
    logger: silentLogger,
    failedAuthLimit: 3,
    maxRequests: options.maxRequests ?? 1000,
  });
  const accounts = createAccountStore({ sql, kv, logger: silentLogger });
  const authenticator = createAuthenticator({
    accounts,
    kv,
    secret: new Secret('the platform-wide nonce secret'),
    flood,
    logger: silentLogger,
  });
  const bindings = createBindingStore({ kv });
  const registrar = createRegistrar({
    authenticator,
    bindings,
    flood,
    domains: [domain],
    logger: silentLogger,
  });
  async function send(text: string, address = '192.0.2.20'): Promise<Sent | undefined> {
    const ex = exchange(text, { address });
    await registrar.handle(ex.req, ex.res);
    return ex.sent[0];
  }
  return { kv, accounts, bindings, registrar, send };
}

beforeAll(async () => {
  schema = await createTestSchema(info, 'sipreg');
  sql = createSqlRouter({
    primary: schema.primaryUri,
    replicas: schema.replicaUris,
    pool: { connectionLimit: 4, timezone: 'Z', dateStrings: true },
  });
  await migrate(sql, [sipEdgeMigrations]);
});

afterAll(async () => {
  await Promise.allSettled(clients.map((kv) => kv.close()));
  await sql.close();
  await schema.drop();
});

function authorization(challenge: Sent | undefined, nc = 1, pass = password): string {
  const value = challenge?.all('WWW-Authenticate')[0] ?? '';
  expect(challengeParams(value).algorithm).toBe('SHA-256');
  return authorize({
    challenge: value,
    username: 'alice',
    password: pass,
    uri: `sip:${domain}`,
    nc,
  });
}

describe('the registrar on the sandbox', () => {
  it('registers through one edge and the other edge sees the binding; a nonce-count replayed on the other edge is refused', async () => {
    const prefix = `${uniqueName('sipr')}:`;
    const a = edge(prefix);
    const b = edge(prefix);
    await a.accounts.add({ username: 'alice', domain, password });
    const base = {
      user: 'alice',
      domain,
      contacts: ['<sip:alice@192.0.2.20:5060>;q=0.7'],
      expires: 300,
    };
    const challenge = await a.send(registerText(base));
    expect(challenge?.status).toBe(401);
    const auth = authorization(challenge);
    const ok = await a.send(
      registerText({ ...base, authorization: auth, cseq: 2, callId: 'reg-1' }),
    );
    expect(ok?.status).toBe(200);
    expect(ok?.header('Contact')).toBe('<sip:alice@192.0.2.20:5060>;expires=300;q=0.7');

    expect((await b.bindings.contacts(`sip:alice@${domain}`)).map((c) => c.contact)).toEqual([
      'sip:alice@192.0.2.20:5060',
    ]);
    // The same Authorization (same nonce, same nc) replayed to the other edge.
    const replay = await b.send(
      registerText({ ...base, authorization: auth, cseq: 3, callId: 'reg-1' }),
    );
    expect(replay?.status).toBe(401);
    // A higher nc on the other edge is fine, and unregisters with Expires: 0.
    const gone = await b.send(
      registerText({
        ...base,
        expires: 0,
        authorization: authorization(challenge, 2),
        cseq: 4,
        callId: 'reg-1',
      }),
    );
    expect(gone?.status).toBe(200);
    expect(gone?.header('Contact')).toBeUndefined();
    expect(await a.bindings.contacts(`sip:alice@${domain}`)).toEqual([]);
  });

  it('bans a source on every edge after failed authentications on several of them', async () => {
    const prefix = `${uniqueName('sipb')}:`;
    const a = edge(prefix);
    const b = edge(prefix);
    await a.accounts.add({ username: 'alice', domain, password });
    const base = { user: 'alice', domain, contacts: ['<sip:alice@192.0.2.30>'] };
    for (const e of [a, b, a]) {
      const challenge = await e.send(registerText(base), '203.0.113.5');
      const refused = await e.send(
        registerText({
          ...base,
          authorization: authorization(challenge, 1, 'wrong guess'),
          cseq: 2,
        }),
        '203.0.113.5',
      );
      expect(refused?.status).toBe(401);
    }
    expect(await b.send(registerText(base), '203.0.113.5')).toBeUndefined();
    expect(await a.send(registerText(base), '203.0.113.5')).toBeUndefined();
    expect((await a.send(registerText(base), '203.0.113.6'))?.status).toBe(401);
  });

  it('rate-limits a source across edges', async () => {
    const prefix = `${uniqueName('sipl')}:`;
    const a = edge(prefix, { maxRequests: 4 });
    const b = edge(prefix, { maxRequests: 4 });
    const statuses: (number | undefined)[] = [];
    for (const e of [a, b, a, b, a, b]) {
      statuses.push(
        (await e.send(registerText({ user: 'alice', domain }), '198.51.100.9'))?.status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 503, 503]);
  });

  it('keeps every contact when two edges register two phones of one AOR at once', async () => {
    const prefix = `${uniqueName('sipc')}:`;
    const a = edge(prefix);
    const b = edge(prefix);
    await a.accounts.add({ username: 'alice', domain, password });
    const phones = Array.from({ length: 6 }, (_, i) => i);
    await Promise.all(
      phones.map(async (i) => {
        const e = i % 2 === 0 ? a : b;
        const base = {
          user: 'alice',
          domain,
          contacts: [`<sip:alice@192.0.2.${40 + i}>`],
          callId: `phone-${i}`,
        };
        const challenge = await e.send(registerText(base), `192.0.2.${40 + i}`);
        const sent = await e.send(
          registerText({ ...base, authorization: authorization(challenge), cseq: 2 }),
          `192.0.2.${40 + i}`,
        );
        expect(sent?.status).toBe(200);
      }),
    );
    expect((await a.bindings.contacts(`sip:alice@${domain}`)).length).toBe(6);
    const ttl = await a.kv.namespace('sip').records('aor').ttl(`sip:alice@${domain}`);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_601_000);
  });
});
