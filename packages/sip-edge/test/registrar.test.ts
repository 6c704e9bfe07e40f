import { Secret } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  createAuthenticator,
  createBindingStore,
  createFloodControl,
  createRegistrar,
  ha1,
  SipBindingConflictError,
  type SipAccount,
} from '../src/index.js';
import {
  authorize,
  challengeParams,
  exchange,
  manualClock,
  memoryKv,
  registerText,
  silentLogger,
  type Sent,
} from './sip-fixtures.js';

const domain = 'example.com';
const password = 'correct horse';

function world(
  options: {
    bannedResponse?: 'drop' | 403;
    limitedResponse?: 'drop' | 503;
    maxRequests?: number;
    /** Every binding write loses the race (many edges writing one AOR at once). */
    contended?: boolean;
  } = {},
) {
  const clock = manualClock();
  const kv = memoryKv(clock);
  const accounts = new Map<string, SipAccount>();
  const addAccount = (username: string, enabled = true): void => {
    accounts.set(`${username}@${domain}`, {
      username,
      domain,
      ha1Md5: ha1('MD5', username, domain, password),
      ha1Sha256: ha1('SHA-256', username, domain, password),
      enabled,
    });
  };
  addAccount('alice');
  addAccount('bob');
  const flood = createFloodControl({
    kv,
    logger: silentLogger,
    maxRequests: options.maxRequests ?? 1000,
    failedAuthLimit: 3,
  });
  const authenticator = createAuthenticator({
    accounts: { get: (u, d) => Promise.resolve(accounts.get(`${u}@${d}`)) },
    kv,
    secret: new Secret('a test secret of enough bytes'),
    flood,
    logger: silentLogger,
    clock,
  });
  const bindings = createBindingStore({ kv, clock, minExpires: 60, maxExpires: 3600 });
  const registrar = createRegistrar({
    authenticator,
    bindings:
      options.contended === true
        ? {
            ...bindings,
            register: (aor: string) => Promise.reject(new SipBindingConflictError(aor, 16)),
          }
        : bindings,
    flood,
    domains: [domain],
    logger: silentLogger,
    clock,
    ...(options.bannedResponse === undefined ? {} : { bannedResponse: options.bannedResponse }),
    ...(options.limitedResponse === undefined ? {} : { limitedResponse: options.limitedResponse }),
  });

  async function send(text: string, address = '192.0.2.10'): Promise<Sent | undefined> {
    const ex = exchange(text, { address });
    await registrar.handle(ex.req, ex.res);
    expect(ex.sent.length).toBeLessThanOrEqual(1);
    return ex.sent[0];
  }

  /** REGISTER, read the 401, answer it with `algorithm`'s challenge. */
  async function register(
    o: Partial<Parameters<typeof registerText>[0]> & {
      algorithm?: 'SHA-256' | 'MD5';
      password?: string;
      address?: string;
    } = {},
  ): Promise<Sent | undefined> {
    const base = { user: 'alice', domain, contacts: ['<sip:alice@192.0.2.10:5060>'], ...o };
    const challenge = await send(registerText(base), o.address);
    expect(challenge?.status).toBe(401);
    const value = challenge
      ?.all('WWW-Authenticate')
      .find((v) => challengeParams(v).algorithm === (o.algorithm ?? 'SHA-256'));
    const authorization = authorize({
      challenge: value ?? '',
      username: o.toUser === undefined ? base.user : base.user,
      password: o.password ?? password,
      uri: `sip:${domain}`,
    });
    return send(registerText({ ...base, authorization, cseq: (o.cseq ?? 1) + 1 }), o.address);
  }

  return { clock, kv, flood, bindings, registrar, send, register, addAccount };
}

describe('the registrar', () => {
  it('answers 503 with Retry-After when the binding write keeps losing the race, not a final 500', async () => {
    const w = world({ contended: true });
    const sent = await w.register();
    expect(sent?.status).toBe(503);
    expect(sent?.header('Retry-After')).toBe('1');
  });

  it('challenges a REGISTER without credentials with SHA-256 first, then MD5', async () => {
    const w = world();
    const sent = await w.send(
      registerText({ user: 'alice', domain, contacts: ['<sip:a@192.0.2.10>'] }),
    );
    expect(sent?.status).toBe(401);
    const challenges = sent?.all('WWW-Authenticate') ?? [];
    expect(challenges).toHaveLength(2);
    const [sha, md5] = challenges.map(challengeParams);
    expect(sha).toMatchObject({ realm: domain, algorithm: 'SHA-256', qop: 'auth' });
    expect(md5).toMatchObject({ realm: domain, algorithm: 'MD5', qop: 'auth' });
    expect(sha?.nonce).toMatch(/^[A-Za-z0-9_-]{75}$/);
    expect(sha?.stale).toBeUndefined();
  });

  it.each(['SHA-256', 'MD5'] as const)(
    'registers after a %s challenge and lists the contact with its expiry and a Date',
    async (algorithm) => {
      const w = world();
      const sent = await w.register({ algorithm, expires: 600 });
      expect(sent?.status).toBe(200);
      expect(sent?.header('Contact')).toBe('<sip:alice@192.0.2.10:5060>;expires=600');
      expect(new Date(sent?.header('Date') ?? '').getTime()).toBe(w.clock.now());
      const contacts = await w.bindings.contacts('sip:alice@example.com');
      expect(contacts).toMatchObject([
        {
          contact: 'sip:alice@192.0.2.10:5060',
          q: 1,
          source: '192.0.2.10:5060',
          userAgent: 'test-phone/1.0',
        },
      ]);
    },
  );

  it('answers a wrong password with a fresh 401 and counts the failure; enough of them ban the source, which is then dropped', async () => {
    const w = world();
    for (let i = 0; i < 3; i++) {
      const sent = await w.register({ password: 'wrong password' });
      expect(sent?.status).toBe(401);
      expect(challengeParams(sent?.all('WWW-Authenticate')[0] ?? '').stale).toBeUndefined();
    }
    // Banned: no answer at all, even with the right password.
    const dropped = await w.send(
      registerText({ user: 'alice', domain, contacts: ['<sip:a@192.0.2.10>'] }),
    );
    expect(dropped).toBeUndefined();
    // Another source is not affected.
    const other = await w.register({ address: '198.51.100.1' });
    expect(other?.status).toBe(200);
  });

  it('answers a banned source 403 when configured to', async () => {
    const w = world({ bannedResponse: 403 });
    for (let i = 0; i < 3; i++) await w.register({ password: 'wrong password' });
    const sent = await w.send(registerText({ user: 'alice', domain }));
    expect(sent?.status).toBe(403);
  });

  it('answers an unknown user exactly as a wrong password', async () => {
    const w = world();
    const sent = await w.register({ user: 'mallory' });
    expect(sent?.status).toBe(401);
    expect(sent?.reason).toBe('Unauthorized');
  });

  it('rate-limits a source over its request budget with 503 and Retry-After', async () => {
    const w = world({ maxRequests: 3 });
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await w.send(registerText({ user: 'alice', domain })))?.status);
    }
    expect(statuses).toEqual([401, 401, 401, 503, 503]);
    const limited = await w.send(registerText({ user: 'alice', domain }));
    expect(limited?.header('Retry-After')).toBe('5');
    w.clock.advance(2001); // the next window
    expect((await w.send(registerText({ user: 'alice', domain })))?.status).toBe(401);
  });

  it('drops a rate-limited source when configured to', async () => {
    const w = world({ maxRequests: 1, limitedResponse: 'drop' });
    expect((await w.send(registerText({ user: 'alice', domain })))?.status).toBe(401);
    expect(await w.send(registerText({ user: 'alice', domain }))).toBeUndefined();
  });

  it('answers 423 with Min-Expires when an expiry is too brief', async () => {
    const w = world();
    const sent = await w.register({ expires: 30 });
    expect(sent?.status).toBe(423);
    expect(sent?.header('Min-Expires')).toBe('60');
  });

  it('cuts an expiry above the maximum to it', async () => {
    const w = world();
    const sent = await w.register({ contacts: ['<sip:alice@192.0.2.10>;expires=86400'] });
    expect(sent?.status).toBe(200);
    expect(sent?.header('Contact')).toBe('<sip:alice@192.0.2.10>;expires=3600');
  });

  it('keeps several contacts and lists them highest q first, the contact expires overriding Expires', async () => {
    const w = world();
    const sent = await w.register({
      contacts: [
        '<sip:alice@192.0.2.10:5060>;q=0.5',
        '<sip:alice@192.0.2.11:5060>;q=0.9;expires=120',
      ],
      extra: ['Contact: "Desk" <sip:alice@192.0.2.12:5060>;q=0.1'],
      expires: 300,
    });
    expect(sent?.status).toBe(200);
    expect(sent?.header('Contact')).toBe(
      '<sip:alice@192.0.2.11:5060>;expires=120;q=0.9, <sip:alice@192.0.2.10:5060>;expires=300;q=0.5, <sip:alice@192.0.2.12:5060>;expires=300;q=0.1',
    );
  });

  it('removes one contact with Expires: 0 and keeps the others', async () => {
    const w = world();
    await w.register({ contacts: ['<sip:alice@192.0.2.10>', '<sip:alice@192.0.2.11>'], cseq: 1 });
    const sent = await w.register({ contacts: ['<sip:alice@192.0.2.10>'], expires: 0, cseq: 3 });
    expect(sent?.status).toBe(200);
    expect(sent?.header('Contact')).toBe('<sip:alice@192.0.2.11>;expires=3600');
  });

  it('removes every contact with Contact: * and Expires: 0, and a 200 then lists none', async () => {
    const w = world();
    await w.register({ contacts: ['<sip:alice@192.0.2.10>', '<sip:alice@192.0.2.11>'] });
    const sent = await w.register({ contacts: ['*'], expires: 0, cseq: 5 });
    expect(sent?.status).toBe(200);
    expect(sent?.header('Contact')).toBeUndefined();
    expect(await w.bindings.contacts('sip:alice@example.com')).toEqual([]);
  });

  it('refuses Contact: * with a non-zero Expires or beside another contact (400)', async () => {
    const w = world();
    expect((await w.register({ contacts: ['*'], expires: 60 }))?.status).toBe(400);
    expect(
      (await w.register({ contacts: ['*', '<sip:alice@192.0.2.10>'], expires: 0 }))?.status,
    ).toBe(400);
  });

  it('answers 403 for a disabled account with the right password', async () => {
    const w = world();
    w.addAccount('alice', false);
    expect((await w.register())?.status).toBe(403);
  });

  it('answers 403 when the To AOR is not the authenticated user', async () => {
    const w = world();
    // bob's credentials in a REGISTER for alice's AOR.
    const base = { user: 'bob', toUser: 'alice', domain, contacts: ['<sip:bob@192.0.2.10>'] };
    const challenge = await w.send(registerText(base));
    const authorization = authorize({
      challenge: challenge?.all('WWW-Authenticate')[0] ?? '',
      username: 'bob',
      password,
      uri: `sip:${domain}`,
    });
    const sent = await w.send(registerText({ ...base, authorization, cseq: 2 }));
    expect(sent?.status).toBe(403);
    expect(await w.bindings.contacts('sip:alice@example.com')).toEqual([]);
  });

  it('answers 400 to a garbled Authorization header', async () => {
    const w = world();
    const sent = await w.send(
      registerText({ user: 'alice', domain, authorization: 'Digest username="alice, realm=' }),
    );
    expect(sent?.status).toBe(400);
  });

  it('answers 403 for a domain it does not serve and 400 for a To it cannot read', async () => {
    const w = world();
    expect((await w.send(registerText({ user: 'alice', domain: 'other.org' })))?.status).toBe(403);
    const garbled = registerText({ user: 'alice', domain }).replace(/^To: .*$/m, 'To: <sip:alice@');
    expect((await w.send(garbled))?.status).toBe(400);
  });

  it('answers a query (no Contact) with the current bindings', async () => {
    const w = world();
    await w.register({ contacts: ['<sip:alice@192.0.2.10>'] });
    w.clock.advance(100_000);
    const sent = await w.register({ contacts: [], cseq: 7 });
    expect(sent?.status).toBe(200);
    expect(sent?.header('Contact')).toBe('<sip:alice@192.0.2.10>;expires=3500');
  });

  it('answers 500 to a REGISTER older than the binding of the same Call-ID', async () => {
    const w = world();
    await w.register({ callId: 'same', cseq: 10 });
    const sent = await w.register({ callId: 'same', cseq: 3 });
    expect(sent?.status).toBe(500);
  });

  it('answers 500, and never throws, when a dependency fails', async () => {
    const w = world();
    const failing = createRegistrar({
      authenticator: { authenticate: () => Promise.reject(new Error('kv down')) },
      bindings: w.bindings,
      flood: w.flood,
      domains: [domain],
      logger: silentLogger,
    });
    const ex = exchange(registerText({ user: 'alice', domain }));
    await failing.handle(ex.req, ex.res);
    expect(ex.sent.map((s) => s.status)).toEqual([500]);
  });
});
