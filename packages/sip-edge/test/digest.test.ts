import { randomBytes } from 'node:crypto';
import { Secret } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  checkNonce,
  createAuthenticator,
  createNonce,
  ha1,
  parseAuthorization,
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
} from './sip-fixtures.js';

const domain = 'example.com';
const password = 'correct horse';
const secret = Buffer.from('a test secret of enough bytes');

/** alice's answer to `challenge` for the domain's own URI; `overrides` changes a part of it. */
function asAlice(
  challenge: string,
  overrides: Partial<Parameters<typeof authorize>[0]> = {},
): string {
  return authorize({ challenge, username: 'alice', password, uri: `sip:${domain}`, ...overrides });
}

function setup(enabled = true) {
  const clock = manualClock();
  const failures: string[] = [];
  const account: SipAccount = {
    username: 'alice',
    domain,
    ha1Md5: ha1('MD5', 'alice', domain, password),
    ha1Sha256: ha1('SHA-256', 'alice', domain, password),
    enabled,
  };
  const authenticator = createAuthenticator({
    accounts: {
      get: (u, d) => Promise.resolve(u === 'alice' && d === domain ? account : undefined),
    },
    kv: memoryKv(clock),
    secret: new Secret(secret.toString()),
    flood: {
      failedAuth: (source) => {
        failures.push(source);
        return Promise.resolve();
      },
    },
    logger: silentLogger,
    clock,
  });
  async function attempt(authorization?: string) {
    const ex = exchange(
      registerText({
        user: 'alice',
        domain,
        ...(authorization === undefined ? {} : { authorization }),
      }),
    );
    const user = await authenticator.authenticate(ex.req, ex.res);
    return { user, sent: ex.sent };
  }
  async function challenge(algorithm: 'SHA-256' | 'MD5' = 'SHA-256'): Promise<string> {
    const { sent } = await attempt();
    return sent[0]?.all('WWW-Authenticate').find((v) => v.includes(`algorithm=${algorithm}`)) ?? '';
  }
  return { clock, failures, attempt, challenge, authenticator };
}

describe('parseAuthorization', () => {
  it('reads quoted and token values, several credentials, and commas inside quotes', () => {
    const parsed = parseAuthorization(
      'Digest username="al,ice", realm="example.com", nc=00000001, qop=auth, Digest username="x", realm="other.org"',
    );
    expect(parsed).toHaveLength(2);
    expect(parsed?.[0]?.scheme).toBe('Digest');
    expect(parsed?.[0]?.params.get('username')).toBe('al,ice');
    expect(parsed?.[0]?.params.get('nc')).toBe('00000001');
    expect(parsed?.[1]?.params.get('realm')).toBe('other.org');
  });

  it.each([
    'Digest',
    'Digest username',
    'Digest username="alice',
    'Digest username="a", username="b"',
    'Digest a=b c=d',
    '=b',
    'Digest a=b,,',
    'x'.repeat(9000),
  ])('refuses a garbled header without throwing (%#)', (value) => {
    expect(parseAuthorization(value)).toBeUndefined();
  });

  it('never throws on random input', () => {
    const alphabet = 'Digest ="\\,=;abc \t\r\n\u0000é';
    for (let i = 0; i < 5000; i++) {
      const length = randomBytes(1)[0] ?? 0;
      let text = '';
      for (const byte of randomBytes(length % 64)) text += alphabet.charAt(byte % alphabet.length);
      expect(() => parseAuthorization(text)).not.toThrow();
    }
  });
});

describe('nonces', () => {
  it('are valid until their TTL, stale after, and invalid when tampered with or for another realm', () => {
    const now = Date.UTC(2026, 0, 1);
    const nonce = createNonce(secret, domain, now);
    expect(checkNonce(secret, domain, nonce, now + 1000, 30_000)).toEqual({
      state: 'valid',
      ageMs: 1000,
    });
    expect(checkNonce(secret, domain, nonce, now + 30_001, 30_000)).toEqual({ state: 'stale' });
    expect(checkNonce(secret, 'other.org', nonce, now, 30_000).state).toBe('invalid');
    expect(checkNonce(Buffer.from('another secret!!!'), domain, nonce, now, 30_000).state).toBe(
      'invalid',
    );
    const flipped = `${nonce.slice(0, 10)}${nonce[10] === 'A' ? 'B' : 'A'}${nonce.slice(11)}`;
    expect(checkNonce(secret, domain, flipped, now, 30_000).state).toBe('invalid');
    expect(checkNonce(secret, domain, 'short', now, 30_000).state).toBe('invalid');
  });
});

describe('the authenticator', () => {
  it.each(['SHA-256', 'MD5'] as const)('accepts a correct %s digest', async (algorithm) => {
    const s = setup();
    const authorization = authorize({
      challenge: await s.challenge(algorithm),
      username: 'alice',
      password,
      uri: `sip:${domain}`,
    });
    const { user, sent } = await s.attempt(authorization);
    expect(user).toEqual({ username: 'alice', domain });
    expect(sent).toEqual([]);
  });

  it('accepts nonce-counts out of order (UDP reorders) but never the same one twice', async () => {
    const s = setup();
    const challenge = await s.challenge();
    const withCount = (nc: number) => asAlice(challenge, { nc });
    expect((await s.attempt(withCount(3))).user).toBeDefined();
    expect((await s.attempt(withCount(2))).user).toBeDefined();
    expect((await s.attempt(withCount(3))).sent[0]?.status).toBe(401);
    expect((await s.attempt(withCount(2))).sent[0]?.status).toBe(401);
    expect(s.failures).toEqual([]);
  });

  it('refuses a reused nonce-count (replay) and accepts a higher one', async () => {
    const s = setup();
    const challenge = await s.challenge();
    const first = asAlice(challenge, { nc: 1 });
    expect((await s.attempt(first)).user).toBeDefined();
    const replay = await s.attempt(first);
    expect(replay.user).toBeUndefined();
    expect(replay.sent[0]?.status).toBe(401);
    const lower = asAlice(challenge, { nc: 1 });
    expect((await s.attempt(lower)).sent[0]?.status).toBe(401);
    const next = asAlice(challenge, { nc: 2 });
    expect((await s.attempt(next)).user).toBeDefined();
    expect(s.failures).toEqual([]);
  });

  it('challenges as a proxy with 407 Proxy-Authenticate and reads Proxy-Authorization', async () => {
    const s = setup();
    const asProxy = async (authorization?: string) => {
      const text = registerText({
        user: 'alice',
        domain,
        ...(authorization === undefined ? {} : { authorization }),
      }).replace('\r\nAuthorization:', '\r\nProxy-Authorization:');
      const ex = exchange(text);
      const user = await s.authenticator.authenticate(ex.req, ex.res, 'proxy');
      return { user, sent: ex.sent };
    };
    const first = await asProxy();
    expect(first.sent[0]?.status).toBe(407);
    expect(first.sent[0]?.all('WWW-Authenticate')).toEqual([]);
    const challenge =
      first.sent[0]?.all('Proxy-Authenticate').find((v) => v.includes('algorithm=SHA-256')) ?? '';
    expect(challenge).toContain('Digest realm="example.com"');
    const answer = asAlice(challenge, { nc: 1 });
    expect((await asProxy(answer)).user).toEqual({ username: 'alice', domain });
    // As a proxy, credentials in Authorization (not Proxy-Authorization) do not count.
    const exWww = exchange(
      registerText({
        user: 'alice',
        domain,
        authorization: asAlice(challenge, { nc: 3 }),
      }),
    );
    expect(await s.authenticator.authenticate(exWww.req, exWww.res, 'proxy')).toBeUndefined();
    expect(exWww.sent[0]?.status).toBe(407);
  });

  it('answers a valid digest on an expired nonce with stale=true, without counting a failure', async () => {
    const s = setup();
    const challenge = await s.challenge();
    s.clock.advance(31_000);
    const authorization = asAlice(challenge);
    const { user, sent } = await s.attempt(authorization);
    expect(user).toBeUndefined();
    expect(sent[0]?.status).toBe(401);
    for (const value of sent[0]?.all('WWW-Authenticate') ?? []) {
      expect(challengeParams(value).stale).toBe('true');
    }
    expect(s.failures).toEqual([]);
  });

  it('answers a wrong password on an expired nonce with a plain 401 and counts it', async () => {
    const s = setup();
    const challenge = await s.challenge();
    s.clock.advance(31_000);
    const authorization = asAlice(challenge, { password: 'nope nope' });
    const { sent } = await s.attempt(authorization);
    expect(challengeParams(sent[0]?.all('WWW-Authenticate')[0] ?? '').stale).toBeUndefined();
    expect(s.failures).toEqual(['192.0.2.10']);
  });

  it('answers a nonce it never issued with a fresh challenge', async () => {
    const s = setup();
    const forged = createNonce(Buffer.from('not the platform secret'), domain, s.clock.now());
    const authorization = authorize({
      challenge: `Digest realm="${domain}", nonce="${forged}", algorithm=SHA-256, qop="auth"`,
      username: 'alice',
      password,
      uri: `sip:${domain}`,
    });
    const { user, sent } = await s.attempt(authorization);
    expect(user).toBeUndefined();
    expect(sent[0]?.status).toBe(401);
  });

  it('answers 403 to a disabled account only once the password is right', async () => {
    const s = setup(false);
    const challenge = await s.challenge();
    const wrong = asAlice(challenge, { password: 'nope nope' });
    expect((await s.attempt(wrong)).sent[0]?.status).toBe(401);
    const right = asAlice(challenge, { nc: 2 });
    expect((await s.attempt(right)).sent[0]?.status).toBe(403);
  });

  it('answers 400 to a digest for another URI and to missing fields', async () => {
    const s = setup();
    const challenge = await s.challenge();
    const otherUri = authorize({ challenge, username: 'alice', password, uri: 'sip:other.org' });
    expect((await s.attempt(otherUri)).sent[0]?.status).toBe(400);
    const nonce = challengeParams(challenge).nonce ?? '';
    const noResponse = `Digest username="alice", realm="${domain}", nonce="${nonce}", uri="sip:${domain}"`;
    expect((await s.attempt(noResponse)).sent[0]?.status).toBe(400);
    const noNc = `${noResponse}, response="00", qop=auth, cnonce="x"`;
    expect((await s.attempt(noNc)).sent[0]?.status).toBe(400);
  });

  it('challenges again for credentials of another realm, another scheme, or without qop', async () => {
    const s = setup();
    const nonce = challengeParams(await s.challenge()).nonce ?? '';
    for (const authorization of [
      `Digest username="alice", realm="other.org", nonce="${nonce}", uri="sip:${domain}", response="00"`,
      'Basic YWxpY2U6cGFzc3dvcmQ=',
      `Digest username="alice", realm="${domain}", nonce="${nonce}", uri="sip:${domain}", response="00"`,
      `Digest username="alice", realm="${domain}", nonce="${nonce}", uri="sip:${domain}", response="00", algorithm=SHA-512-256, qop=auth, nc=00000001, cnonce="c"`,
    ]) {
      const { sent } = await s.attempt(authorization);
      expect(sent[0]?.status, authorization).toBe(401);
    }
    expect(s.failures).toEqual([]);
  });

  it('answers 500 and never throws when the account lookup fails', async () => {
    const clock = manualClock();
    const authenticator = createAuthenticator({
      accounts: { get: () => Promise.reject(new Error('sql down')) },
      kv: memoryKv(clock),
      secret: new Secret(secret.toString()),
      flood: { failedAuth: () => Promise.resolve() },
      logger: silentLogger,
      clock,
    });
    const first = exchange(registerText({ user: 'alice', domain }));
    await authenticator.authenticate(first.req, first.res);
    const authorization = authorize({
      challenge: first.sent[0]?.all('WWW-Authenticate')[0] ?? '',
      username: 'alice',
      password,
      uri: `sip:${domain}`,
    });
    const ex = exchange(registerText({ user: 'alice', domain, authorization }));
    await expect(authenticator.authenticate(ex.req, ex.res)).resolves.toBeUndefined();
    expect(ex.sent.map((s) => s.status)).toEqual([500]);
  });

  it('refuses a secret shorter than 16 bytes', () => {
    expect(() =>
      createAuthenticator({
        accounts: { get: () => Promise.resolve(undefined) },
        kv: memoryKv(),
        secret: new Secret('short'),
        flood: { failedAuth: () => Promise.resolve() },
        logger: silentLogger,
      }),
    ).toThrow(expect.objectContaining({ code: 'SWB_SIP_INVALID_ARGUMENT' }));
  });
});
