// Digest authentication of SIP requests (RFC 3261 §22, RFC 7616, RFC 8760): SHA-256 and MD5,
// qop=auth, stateless nonces that expire, and nonce-count replay protection shared through kv.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock, type Logger, type Secret } from '@switchboard/runtime';
import type { Kv, KvRecords } from '@switchboard/storage';
import type { AccountStore, DigestAlgorithm } from './accounts.js';
import { aorOf } from './bindings.js';
import type {
  AuthenticatedUser,
  Authenticator,
  FloodControl,
  SipRequestLike,
  SipResponseLike,
} from './contracts.js';
import { SipInvalidArgumentError, positiveIntegerOption } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Authorization header parsing

/** One credential of an Authorization header: its scheme and parameters (names lowercased). */
export interface Credentials {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
}

const maxHeaderLength = 8192;
const tokenRe = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const quotedRe = /"((?:[^"\\]|\\.)*)"/y;
const wsRe = /[ \t]*/y;
const schemeAheadRe = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]+[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*=/y;

/**
 * Parses an Authorization header (several credentials when drachtio-srf joined repeated headers
 * with `,`). Undefined when the text is not `scheme param=value, …` — the caller answers 400.
 * Never throws, whatever the input.
 */
export function parseAuthorization(value: string): Credentials[] | undefined {
  if (value.length > maxHeaderLength) return undefined;
  let i = 0;
  const sticky = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = i;
    const match = re.exec(value);
    if (match !== null) i = re.lastIndex;
    return match;
  };
  const result: Credentials[] = [];
  sticky(wsRe);
  while (i < value.length) {
    const scheme = sticky(tokenRe);
    if (scheme === null) return undefined;
    if (sticky(/[ \t]+/y) === null) return undefined;
    const params = new Map<string, string>();
    // token68 credentials (`Basic dXNlcjpwYXNz`): no parameters, nothing a digest check reads.
    const token68 =
      scheme[0].toLowerCase() === 'digest' ? null : sticky(/[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)/y);
    if (token68 !== null) {
      result.push({ scheme: scheme[0], params });
      if (i < value.length) i++; // the comma
      sticky(wsRe);
      continue;
    }
    for (;;) {
      const name = sticky(tokenRe);
      if (name === null) return undefined;
      sticky(wsRe);
      if (value[i] !== '=') return undefined;
      i++;
      sticky(wsRe);
      const quoted = sticky(quotedRe);
      const raw = quoted === null ? sticky(tokenRe) : null;
      if (quoted === null && raw === null) return undefined;
      const key = name[0].toLowerCase();
      if (params.has(key)) return undefined;
      params.set(
        key,
        quoted === null ? (raw?.[0] ?? '') : (quoted[1] ?? '').replace(/\\(.)/g, '$1'),
      );
      sticky(wsRe);
      if (i >= value.length) break;
      if (value[i] !== ',') return undefined;
      i++;
      sticky(wsRe);
      schemeAheadRe.lastIndex = i;
      if (schemeAheadRe.test(value)) break; // the next credential starts here
    }
    result.push({ scheme: scheme[0], params });
  }
  return result.length === 0 ? undefined : result;
}

// ---------------------------------------------------------------------------------------------
// Nonces

const nonceBytes = 8 + 16 + 32;

function nonceMac(secret: Buffer, timestampAndRandom: Buffer, realm: string): Buffer {
  return createHmac('sha256', secret)
    .update(timestampAndRandom.subarray(0, 8))
    .update('|')
    .update(timestampAndRandom.subarray(8, 24))
    .update('|')
    .update(realm, 'utf8')
    .digest();
}

/** `base64url(timestamp ms (8 bytes) ‖ random (16) ‖ HMAC-SHA256(secret, timestamp|random|realm))`. */
export function createNonce(secret: Buffer, realm: string, now: number): string {
  const head = Buffer.alloc(24);
  head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0);
  randomBytes(16).copy(head, 8);
  return Buffer.concat([head, nonceMac(secret, head, realm)]).toString('base64url');
}

/** `valid` with its age, `stale` when well-formed but older than the TTL, else `invalid`. */
export type NonceCheck =
  | { readonly state: 'valid'; readonly ageMs: number }
  | { readonly state: 'stale' }
  | { readonly state: 'invalid' };

/** Nonces from a little in the future are accepted: edges' clocks differ slightly. */
const clockSkewMs = 5000;

export function checkNonce(
  secret: Buffer,
  realm: string,
  nonce: string,
  now: number,
  ttlMs: number,
): NonceCheck {
  if (!/^[A-Za-z0-9_-]{75}$/.test(nonce)) return { state: 'invalid' };
  const bytes = Buffer.from(nonce, 'base64url');
  if (bytes.length !== nonceBytes) return { state: 'invalid' };
  const expected = nonceMac(secret, bytes.subarray(0, 24), realm);
  if (!timingSafeEqual(expected, bytes.subarray(24))) return { state: 'invalid' };
  const ageMs = now - Number(bytes.readBigUInt64BE(0));
  if (ageMs < -clockSkewMs) return { state: 'invalid' };
  if (ageMs > ttlMs) return { state: 'stale' };
  return { state: 'valid', ageMs: Math.max(0, ageMs) };
}

// ---------------------------------------------------------------------------------------------
// Digest computation

function hashHex(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5')
    .update(text, 'utf8')
    .digest('hex');
}

/** The `response` of a qop=auth digest, from the HA1 (RFC 7616 §3.4.1). */
export function digestResponse(input: {
  readonly algorithm: DigestAlgorithm;
  readonly ha1: string;
  readonly method: string;
  readonly uri: string;
  readonly nonce: string;
  readonly nc: string;
  readonly cnonce: string;
  readonly qop: 'auth';
}): string {
  const ha2 = hashHex(input.algorithm, `${input.method}:${input.uri}`);
  return hashHex(
    input.algorithm,
    `${input.ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`,
  );
}

/**
 * The WWW-Authenticate challenges of a 401: SHA-256 first (RFC 8760 §2.4: the server lists them
 * by preference), then MD5, one nonce for both. RFC 3261 §7.3.1 forbids folding authentication
 * headers into one comma-separated line, and drachtio-srf writes a string header value verbatim
 * as one `name: value` line, so the second challenge follows the first on a line of its own
 * (`\r\nWWW-Authenticate: …`) inside the one value.
 */
export function challengeHeaders(
  realm: string,
  nonce: string,
  stale: boolean,
  header: 'WWW-Authenticate' | 'Proxy-Authenticate' = 'WWW-Authenticate',
): Record<string, string> {
  const challenge = (algorithm: DigestAlgorithm): string =>
    `Digest realm="${realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"${stale ? ', stale=true' : ''}`;
  return { [header]: `${challenge('SHA-256')}\r\n${header}: ${challenge('MD5')}` };
}

/**
 * Who challenges: the registrar as the user's server (401, `WWW-Authenticate`, credentials in
 * `Authorization`), or the edge as a proxy on the way to the callee (407,
 * `Proxy-Authenticate`, credentials in `Proxy-Authorization`), as RFC 3261 §22.3 has it for
 * INVITEs. The nonces, HA1s and replay rules are the same.
 */
export type ChallengeMode = 'www' | 'proxy';

const modes = {
  www: {
    status: 401,
    reason: 'Unauthorized',
    challenge: 'WWW-Authenticate',
    credentials: 'Authorization',
  },
  proxy: {
    status: 407,
    reason: 'Proxy Authentication Required',
    challenge: 'Proxy-Authenticate',
    credentials: 'Proxy-Authorization',
  },
} as const;

// ---------------------------------------------------------------------------------------------
// The authenticator

export interface AuthenticatorOptions {
  readonly accounts: Pick<AccountStore, 'get'>;
  readonly kv: Kv;
  /** The HMAC key of the nonces; every edge must share it. At least 16 bytes. */
  readonly secret: Secret;
  /**
   * The realm (= the account's domain) a request is authenticated in. Default: the host of the
   * To header for REGISTER (the AOR being registered), of the From header otherwise.
   */
  readonly realm?: (req: SipRequestLike) => string | undefined;
  /** How long a nonce may be used. Default 30000 ms. */
  readonly nonceTtlMs?: number;
  readonly flood: Pick<FloodControl, 'failedAuth'>;
  readonly logger: Logger;
  readonly clock?: Clock;
}

function defaultRealm(req: SipRequestLike): string | undefined {
  const header = req.method === 'REGISTER' ? 'To' : 'From';
  return req.has(header) ? aorOf(req.get(header))?.domain : undefined;
}

function algorithmOf(param: string | undefined): DigestAlgorithm | undefined {
  if (param === undefined) return 'MD5'; // RFC 7616 §3.3: absent means MD5
  const upper = param.toUpperCase();
  return upper === 'SHA-256' ? 'SHA-256' : upper === 'MD5' ? 'MD5' : undefined;
}

/**
 * Creates the contract's `Authenticator`. Outcomes: no credentials for this realm, an unknown
 * nonce or an unsupported algorithm → 401 with a fresh challenge; unknown user or wrong password
 * → the same 401 (nothing tells them apart) and `flood.failedAuth(source)`; a valid digest on an
 * expired nonce → 401 `stale=true`; a reused nonce-count → 401; a disabled account (right
 * password) → 403; an Authorization header that does not parse, misses a field or names another
 * URI → 400. An unexpected failure (kv, SQL) is logged and answered 500. Never throws.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const secret = Buffer.from(options.secret.reveal(), 'utf8');
  if (secret.length < 16) {
    throw new SipInvalidArgumentError('secret', 'must be at least 16 bytes');
  }
  const nonceTtlMs = positiveIntegerOption('nonceTtlMs', options.nonceTtlMs ?? 30_000);
  const realmOf = options.realm ?? defaultRealm;
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ component: 'sip-digest' });
  const { accounts, flood } = options;
  // Each (nonce, nonce-count) pair used so far, for as long as the nonce lives.
  const used: KvRecords<1> = options.kv.namespace('sip').records('nc');

  function challenge(
    res: SipResponseLike,
    realm: string,
    stale: boolean,
    mode: ChallengeMode,
  ): AuthenticatedUser | undefined {
    const { status, reason, challenge: header } = modes[mode];
    res.send(status, reason, {
      headers: challengeHeaders(realm, createNonce(secret, realm, clock.now()), stale, header),
    });
    return undefined;
  }

  function badRequest(res: SipResponseLike, reason: string): AuthenticatedUser | undefined {
    res.send(400, reason);
    return undefined;
  }

  /**
   * True the first time this nonce-count comes with this nonce (one SET NX, shared by every
   * edge): a replayed request repeats its pair and is refused. Counts need not arrive in order —
   * over UDP a phone's requests can overtake each other — they must only not repeat, which is
   * what replay protection asks (RFC 7616 §3.3) and one round trip instead of a read and a
   * compare-and-set.
   */
  function freshCount(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    return used.setIfAbsent(`${nonce}:${nc.toString(16)}`, 1, { ttlMs });
  }

  async function authenticate(
    req: SipRequestLike,
    res: SipResponseLike,
    mode: ChallengeMode,
  ): Promise<AuthenticatedUser | undefined> {
    const realm = realmOf(req);
    if (realm === undefined) return badRequest(res, 'No domain to authenticate in');
    const credentialsHeader = modes[mode].credentials;
    const header = req.has(credentialsHeader) ? req.get(credentialsHeader) : undefined;
    if (header === undefined || header.trim() === '') return challenge(res, realm, false, mode);
    const parsed = parseAuthorization(header);
    if (parsed === undefined) return badRequest(res, `Malformed ${credentialsHeader} header`);
    const credentials = parsed.find(
      (c) => c.scheme.toLowerCase() === 'digest' && c.params.get('realm') === realm,
    );
    if (credentials === undefined) return challenge(res, realm, false, mode);
    const p = credentials.params;
    const username = p.get('username');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    const cnonce = p.get('cnonce');
    const ncText = p.get('nc');
    if (
      username === undefined ||
      username === '' ||
      nonce === undefined ||
      uri === undefined ||
      response === undefined
    ) {
      return badRequest(res, `Incomplete ${credentialsHeader} header`);
    }
    const algorithm = algorithmOf(p.get('algorithm'));
    // Only what the challenge offered: qop=auth with SHA-256 or MD5.
    if (algorithm === undefined || p.get('qop')?.toLowerCase() !== 'auth') {
      return challenge(res, realm, false, mode);
    }
    if (
      cnonce === undefined ||
      cnonce === '' ||
      ncText === undefined ||
      !/^[0-9a-fA-F]{8}$/.test(ncText)
    ) {
      return badRequest(res, `Incomplete ${credentialsHeader} header`);
    }
    if (uri !== req.uri) return badRequest(res, 'Digest URI does not match the request');
    const now = clock.now();
    const nonceState = checkNonce(secret, realm, nonce, now, nonceTtlMs);
    const source = req.source_address;
    const log = logger.child({ username, realm, source, algorithm, callId: callIdOf(req) });
    if (nonceState.state === 'invalid') {
      log.debug('digest with a nonce this platform did not issue');
      return challenge(res, realm, false, mode);
    }
    const account = await accounts.get(username, realm);
    const expected =
      account === undefined
        ? undefined
        : digestResponse({
            algorithm,
            ha1: algorithm === 'SHA-256' ? account.ha1Sha256 : account.ha1Md5,
            method: req.method,
            uri,
            nonce,
            nc: ncText,
            cnonce,
            qop: 'auth',
          });
    const given = Buffer.from(response.toLowerCase(), 'utf8');
    if (
      expected === undefined ||
      given.length !== expected.length ||
      !timingSafeEqual(given, Buffer.from(expected, 'utf8'))
    ) {
      // Unknown user and wrong password look the same from outside.
      log.info({ known: account !== undefined }, 'digest authentication failed');
      await flood.failedAuth(source);
      return challenge(res, realm, false, mode);
    }
    if (nonceState.state === 'stale') return challenge(res, realm, true, mode);
    if (account === undefined) return challenge(res, realm, false, mode); // unreachable: narrows the type
    if (!account.enabled) {
      log.info('authenticated request from a disabled account');
      res.send(403, 'Account disabled');
      return undefined;
    }
    const nc = Number.parseInt(ncText, 16);
    // The nonce's remaining life, plus a second: a count must outlive the nonce it protects.
    const ttlMs = Math.max(1, nonceTtlMs - nonceState.ageMs + clockSkewMs) + 1000;
    if (!(await freshCount(nonce, nc, ttlMs))) {
      log.warn({ nc: ncText }, 'digest nonce-count reused: replay refused');
      return challenge(res, realm, false, mode);
    }
    return { username: account.username, domain: account.domain };
  }

  return {
    async authenticate(req, res, mode = 'www') {
      try {
        return await authenticate(req, res, mode);
      } catch (err) {
        logger.error({ err, callId: callIdOf(req) }, 'digest authentication failed unexpectedly');
        if (!res.finalResponseSent) res.send(500, 'Server Internal Error');
        return undefined;
      }
    },
  };
}

/**
 * The Call-ID header. Not `req.callId`: drachtio-srf's typings declare it, but its `Request`
 * class has no such property at run time (it is undefined on a request from the network).
 */
export function callIdOf(req: SipRequestLike): string | undefined {
  try {
    return req.has('Call-ID') ? req.get('Call-ID') : undefined;
  } catch {
    return undefined;
  }
}
