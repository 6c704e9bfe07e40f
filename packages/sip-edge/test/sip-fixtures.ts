// Test helpers: drachtio-srf's own Request/Response objects built from raw SIP text, a response
// stub that records what would go on the wire, a SIP client's side of digest authentication,
// and an in-memory kv (the unit tests' stand-in; the integration tests run the same flows on
// the sandbox's Redis Cluster).
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createLogger, type Clock, type Logger } from '@switchboard/runtime';
import type { Kv } from '@switchboard/storage';
import type { SipRequestLike, SipResponseLike } from '../src/index.js';

const require = createRequire(import.meta.url);

interface DrachtioSipMessage {
  toString(): string;
  set(name: string, value: string): unknown;
}
type SipMessageClass = new (raw?: unknown) => DrachtioSipMessage;
type RequestClass = new (msg: DrachtioSipMessage, meta: Record<string, string>) => SipRequestLike;
interface DrachtioResponse extends SipResponseLike {
  req: SipRequestLike;
  msg: DrachtioSipMessage;
}
type ResponseClass = new (agent: unknown) => DrachtioResponse;

// drachtio-srf is CommonJS: its classes are loaded the way its own agent loads them.
const SipMessage = require('drachtio-srf/lib/sip-parser/message.js') as SipMessageClass;
const SipRequest = require('drachtio-srf/lib/request.js') as RequestClass;
const SipResponse = require('drachtio-srf/lib/response.js') as ResponseClass;

export const silentLogger: Logger = createLogger({ level: 'silent' });

/** What a handler sent, as drachtio-srf would hand it to drachtio-server. */
export interface Sent {
  readonly status: number;
  readonly reason: string;
  /** The message text (drachtio-srf's own serialisation, with the options' headers applied). */
  readonly raw: string;
  /** Every header line of `raw`, in order, names lowercased. */
  readonly lines: readonly (readonly [string, string])[];
  /** The values of the header lines named `name`. */
  all(name: string): string[];
  /** The first value of `name`, or undefined. */
  header(name: string): string | undefined;
}

export interface Exchange {
  readonly req: SipRequestLike;
  readonly res: SipResponseLike;
  /** Every response sent (a handler must send at most one). */
  readonly sent: Sent[];
}

function parseSent(raw: string): Sent {
  const [head = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...rest] = head.split('\r\n');
  const match = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(statusLine);
  const lines = rest.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  return {
    status: Number(match?.[1]),
    reason: match?.[2] ?? '',
    raw,
    lines,
    all: (name) => lines.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v),
    header: (name) => lines.find(([n]) => n === name.toLowerCase())?.[1],
  };
}

/**
 * A request from raw SIP text (CRLF added where the text has bare LF), as drachtio-srf builds
 * one from drachtio-server's message, and a real `Response` bound to it whose agent records
 * each send instead of writing to a socket.
 */
export function exchange(
  rawText: string,
  meta: { address?: string; port?: number; protocol?: string } = {},
): Exchange {
  const raw = rawText.replace(/\r?\n/g, '\r\n');
  const req = new SipRequest(new SipMessage(raw), {
    source: 'network',
    address: meta.address ?? '192.0.2.10',
    port: String(meta.port ?? 5060),
    protocol: meta.protocol ?? 'udp',
    time: '00:00:00.000',
    transactionId: randomBytes(8).toString('hex'),
  });
  const sent: Sent[] = [];
  const agent = {
    // What drachtio-srf's agent does in sendMessage, minus the socket.
    sendResponse(res: DrachtioResponse, opts: { headers?: Record<string, string>; body?: string }) {
      const message = new SipMessage(res.msg);
      for (const [name, value] of Object.entries(opts.headers ?? {})) message.set(name, value);
      sent.push(parseSent(message.toString()));
    },
  };
  const res = new SipResponse(agent);
  res.req = req;
  return { req, res, sent };
}

/** A REGISTER's raw text. */
export function registerText(options: {
  user: string;
  domain: string;
  callId?: string;
  cseq?: number;
  contacts?: readonly string[];
  expires?: number;
  authorization?: string;
  toUser?: string;
  extra?: readonly string[];
}): string {
  const lines = [
    `REGISTER sip:${options.domain} SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    `Max-Forwards: 70`,
    `From: "${options.user}" <sip:${options.user}@${options.domain}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:${options.toUser ?? options.user}@${options.domain}>`,
    `Call-ID: ${options.callId ?? randomBytes(8).toString('hex')}`,
    `CSeq: ${options.cseq ?? 1} REGISTER`,
    ...(options.contacts ?? []).map((c) => `Contact: ${c}`),
    ...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]),
    ...(options.authorization === undefined ? [] : [`Authorization: ${options.authorization}`]),
    ...(options.extra ?? []),
    `User-Agent: test-phone/1.0`,
    `Content-Length: 0`,
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The parameters of a WWW-Authenticate challenge. */
export function challengeParams(value: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of value.replace(/^Digest\s+/i, '').matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) {
    params[match[1] ?? ''] = match[3] ?? match[2] ?? '';
  }
  return params;
}

/** The client's Authorization header for a challenge, as a phone computes it. */
export function authorize(options: {
  challenge: string;
  username: string;
  password: string;
  method?: string;
  uri: string;
  nc?: number;
  cnonce?: string;
}): string {
  const c = challengeParams(options.challenge);
  const algorithm = c.algorithm ?? 'MD5';
  const hash = (text: string): string =>
    createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5')
      .update(text)
      .digest('hex');
  const realm = c.realm ?? '';
  const nonce = c.nonce ?? '';
  const nc = (options.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = options.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = hash(`${options.username}:${realm}:${options.password}`);
  const ha2 = hash(`${options.method ?? 'REGISTER'}:${options.uri}`);
  const response = hash(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${options.username}", realm="${realm}", nonce="${nonce}", uri="${options.uri}", response="${response}", algorithm=${algorithm}, cnonce="${cnonce}", qop=auth, nc=${nc}`;
}

/** A clock the test moves by hand. */
export function manualClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

interface Entry {
  value: string;
  expiresAt: number | undefined;
}

/**
 * The part of kv the SIP edge uses (namespaces; records get/set/setIfAbsent/delete/
 * compareAndSet/update/ttl; counters get/incr/delete), in memory, with TTLs on `clock`.
 */
export function memoryKv(clock: Clock = { now: () => Date.now() }): Kv {
  const store = new Map<string, Entry>();
  const read = (key: string): Entry | undefined => {
    const entry = store.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= clock.now()) {
      store.delete(key);
      return undefined;
    }
    return entry;
  };
  const write = (key: string, value: unknown, ttlMs: number | undefined): void => {
    store.set(key, {
      value: JSON.stringify(value),
      expiresAt: ttlMs === undefined ? undefined : clock.now() + ttlMs,
    });
  };
  const namespace = (prefix: string): unknown => ({
    prefix,
    namespace: (name: string) => namespace(`${prefix}${name}:`),
    records: (name: string, options: { ttlMs?: number } = {}) => {
      const at = (key: string): string => `${prefix}${name}:${key}`;
      const get = (key: string): unknown => {
        const entry = read(at(key));
        return entry === undefined ? undefined : JSON.parse(entry.value);
      };
      const cas = (
        key: string,
        expected: unknown,
        next: unknown,
        o: { ttlMs?: number } = {},
      ): boolean => {
        const entry = read(at(key));
        if (
          (entry?.value ?? undefined) !==
          (expected === undefined ? undefined : JSON.stringify(expected))
        ) {
          return false;
        }
        if (next === undefined) store.delete(at(key));
        else write(at(key), next, o.ttlMs ?? options.ttlMs);
        return true;
      };
      return {
        get: (key: string) => Promise.resolve(get(key)),
        set: (key: string, value: unknown, o: { ttlMs?: number } = {}) => {
          write(at(key), value, o.ttlMs ?? options.ttlMs);
          return Promise.resolve();
        },
        setIfAbsent: (key: string, value: unknown, o: { ttlMs?: number } = {}) => {
          if (read(at(key)) !== undefined) return Promise.resolve(false);
          write(at(key), value, o.ttlMs ?? options.ttlMs);
          return Promise.resolve(true);
        },
        delete: (key: string) => Promise.resolve(store.delete(at(key))),
        compareAndSet: (key: string, expected: unknown, next: unknown, o?: { ttlMs?: number }) =>
          Promise.resolve(cas(key, expected, next, o)),
        update: async (key: string, fn: (current: unknown) => unknown, o?: { ttlMs?: number }) => {
          const current = get(key);
          const next = await fn(current);
          cas(key, current, next, o);
          return next;
        },
        ttl: (key: string) => {
          const entry = read(at(key));
          return Promise.resolve(
            entry?.expiresAt === undefined ? undefined : entry.expiresAt - clock.now(),
          );
        },
      };
    },
    counters: (name: string, options: { ttlMs?: number } = {}) => {
      const at = (key: string): string => `${prefix}${name}:${key}`;
      return {
        get: (key: string) => Promise.resolve(Number(read(at(key))?.value ?? 0)),
        incr: (key: string, by = 1) => {
          const entry = read(at(key));
          const value = Number(entry?.value ?? 0) + by;
          // As Redis with the kv's counters: the first increment starts the window.
          store.set(at(key), {
            value: String(value),
            expiresAt:
              entry === undefined
                ? options.ttlMs === undefined
                  ? undefined
                  : clock.now() + options.ttlMs
                : entry.expiresAt,
          });
          return Promise.resolve(value);
        },
        delete: (key: string) => Promise.resolve(store.delete(at(key))),
      };
    },
  });
  return namespace('') as Kv;
}
