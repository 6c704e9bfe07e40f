// Shared doubles for the INVITE tests: drachtio-srf's own request and response objects built from
// raw SIP text (its parser, its header access), a response whose wire is a recorder, and a fake
// Srf whose proxy and B2BUA outcomes are scripted per target.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { createLogger, type Logger } from '@switchboard/runtime';
import type {
  AuthenticatedUser,
  Authenticator,
  Binding,
  BindingLookup,
  FloodControl,
  FloodVerdict,
  SipRequestLike,
  SipResponseLike,
} from '../src/contracts.js';
import type {
  CallDialog,
  InviteB2buaOptions,
  InviteB2buaProgress,
  InviteProxyOptions,
  InviteSrf,
  ProxyOutcome,
} from '../src/index.js';

const require = createRequire(import.meta.url);

interface RequestMeta {
  readonly source: 'network' | 'application';
  readonly address: string;
  readonly port: string;
  readonly protocol: string;
  readonly time: string;
  readonly transactionId: string;
}

type SipMessageCtor = new (raw: string) => object;
type SipRequestCtor = new (msg: object, meta: RequestMeta) => SipRequestLike;
type SipResponseCtor = new (agent: FakeAgent) => SipResponseLike & { req: SipRequestLike };

const SipMessage = require('drachtio-srf/lib/sip-parser/message.js') as SipMessageCtor;
const SipRequest = require('drachtio-srf/lib/request.js') as SipRequestCtor;
const SipResponse = require('drachtio-srf/lib/response.js') as SipResponseCtor;

export interface SentResponse {
  readonly status: number;
  readonly reason: string;
  readonly headers: Record<string, string>;
}

interface FakeAgent {
  sendResponse(
    res: { msg: { status: number; reason: string } },
    opts: { headers?: Record<string, string> },
    callback?: (err: unknown, msg: unknown) => void,
  ): void;
}

export interface InviteOptions {
  readonly uri?: string;
  readonly from?: string;
  readonly to?: string;
  readonly callId?: string;
  readonly source?: string;
  readonly userAgent?: string;
  readonly body?: string;
}

let callCounter = 0;

const sdp = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

/** An INVITE as drachtio-srf hands it to an application: a real `SipRequest` from raw text. */
export function inviteRequest(options: InviteOptions = {}): SipRequestLike {
  const uri = options.uri ?? 'sip:bob@example.com';
  const callId = options.callId ?? `call-${++callCounter}@192.0.2.10`;
  const body = options.body ?? sdp;
  const source = options.source ?? '192.0.2.10';
  const raw = [
    `INVITE ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${source}:5060;branch=z9hG4bK-${callCounter}`,
    'Max-Forwards: 70',
    `From: ${options.from ?? '"Alice" <sip:alice@example.com>'};tag=a1b2c3`,
    `To: ${options.to ?? `<${uri}>`}`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@${source}:5060>`,
    `User-Agent: ${options.userAgent ?? 'TestPhone/1.0'}`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  return new SipRequest(new SipMessage(raw), {
    source: 'network',
    address: source,
    port: '5060',
    protocol: 'udp',
    time: '12:00:00.000',
    transactionId: `txn-${callCounter}`,
  });
}

export interface RecordingResponse {
  readonly res: SipResponseLike;
  /** Every response sent, provisional and final, in order. */
  readonly sent: SentResponse[];
  /** The final response, if one was sent. */
  final: () => SentResponse | undefined;
}

/** drachtio-srf's own `SipResponse` for `req`, its wire replaced by a recorder. */
export function recordingResponse(req: SipRequestLike): RecordingResponse {
  const sent: SentResponse[] = [];
  const agent: FakeAgent = {
    sendResponse(res, opts, callback) {
      sent.push({ status: res.msg.status, reason: res.msg.reason, headers: { ...opts.headers } });
      callback?.(null, res);
    },
  };
  const res = new SipResponse(agent);
  res.req = req;
  return { res, sent, final: () => sent.find((response) => response.status >= 200) };
}

// ---- a fake Srf --------------------------------------------------------------------------------

/** A SIP failure as drachtio-srf reports one (its `SipError` has `status` and `reason`). */
export class FakeSipError extends Error {
  override name = 'SipError';
  readonly status: number;
  readonly reason: string | undefined;

  constructor(status: number, reason?: string) {
    super(`Sip non-success response: ${status}`);
    this.status = status;
    this.reason = reason;
  }
}

export class FakeDialog extends EventEmitter implements CallDialog {
  destroyed = false;

  destroy(): Promise<void> {
    this.destroyed = true;
    return Promise.resolve();
  }

  /** The far end hangs up (drachtio emits `destroy` on a BYE received). */
  hangUp(): void {
    this.emit('destroy');
  }
}

export type B2buaScript =
  /** Answers; with `afterMs`, only then and without any provisional response first. */
  | { readonly kind: 'answer'; readonly afterMs?: number }
  | { readonly kind: 'fail'; readonly status: number; readonly reason?: string }
  | { readonly kind: 'error'; readonly error: Error }
  /** Never settles: the PBX says nothing (the handler's attempt timeout takes over). */
  | { readonly kind: 'silent' };

export interface B2buaCall {
  readonly uri: string;
  readonly options: InviteB2buaOptions;
  readonly progress: InviteB2buaProgress;
  readonly cancelled: () => boolean;
  readonly uas?: FakeDialog;
  readonly uac?: FakeDialog;
}

export interface ProxyCall {
  readonly destinations: string[];
  readonly options: InviteProxyOptions;
}

export interface FakeSrf extends InviteSrf {
  readonly proxyCalls: ProxyCall[];
  readonly b2buaCalls: B2buaCall[];
  /** What the next proxyRequest resolves with (default: connected, 200). */
  proxyOutcome: ProxyOutcome | Error;
  /** Outcomes by PBX host:port (the part after `@` in the B2BUA URI); default answer. */
  readonly script: Map<string, B2buaScript>;
}

export function fakeSrf(): FakeSrf {
  const proxyCalls: ProxyCall[] = [];
  const b2buaCalls: B2buaCall[] = [];
  const script = new Map<string, B2buaScript>();
  const srf: FakeSrf = {
    proxyCalls,
    b2buaCalls,
    script,
    proxyOutcome: { connected: true, finalStatus: 200 },
    proxyRequest(_req, destinations, options) {
      proxyCalls.push({ destinations: [...destinations], options });
      const outcome = srf.proxyOutcome;
      return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome);
    },
    createB2BUA(_req, res, uri, options, progress) {
      const host = uri.slice(uri.indexOf('@') + 1);
      const step = script.get(host) ?? { kind: 'answer' };
      let cancelled = false;
      progress.cbRequest(null, {
        cancel: () => {
          cancelled = true;
        },
      });
      switch (step.kind) {
        case 'answer': {
          const uas = new FakeDialog();
          const uac = new FakeDialog();
          b2buaCalls.push({ uri, options, progress, cancelled: () => cancelled, uas, uac });
          if (step.afterMs !== undefined) {
            // As drachtio does: the B leg answers, then the A leg gets its 200 OK, and the
            // B2BUA settles when that send is confirmed (or fails).
            const afterMs = step.afterMs;
            return new Promise((resolve, reject) => {
              setTimeout(() => {
                progress.cbFinalizedUac(uac);
                const sendWithCallback = res.send.bind(res) as (...args: unknown[]) => void;
                sendWithCallback(200, {}, (err: Error | null) => {
                  if (err === null) resolve({ uas, uac });
                  else reject(err);
                });
              }, afterMs);
            });
          }
          progress.cbProvisional({ status: 180 });
          progress.cbFinalizedUac(uac);
          res.send(200);
          return Promise.resolve({ uas, uac });
        }
        case 'fail':
          b2buaCalls.push({ uri, options, progress, cancelled: () => cancelled });
          return Promise.reject(new FakeSipError(step.status, step.reason));
        case 'error':
          b2buaCalls.push({ uri, options, progress, cancelled: () => cancelled });
          return Promise.reject(step.error);
        case 'silent':
          b2buaCalls.push({ uri, options, progress, cancelled: () => cancelled });
          return new Promise<never>(() => undefined);
      }
    },
  };
  return srf;
}

// ---- the other seams ---------------------------------------------------------------------------

export const alice: AuthenticatedUser = { username: 'alice', domain: 'example.com' };

/** Accepts every request as `user` (default alice), or answers 401 itself when given undefined. */
export function fakeAuthenticator(...args: [] | [AuthenticatedUser | undefined]): Authenticator {
  const user = args.length === 0 ? alice : args[0];
  return {
    authenticate(_req: SipRequestLike, res: SipResponseLike) {
      if (user === undefined) {
        res.send(401, undefined, {
          headers: { 'WWW-Authenticate': 'Digest realm="example.com", nonce="n"' },
        });
      }
      return Promise.resolve(user);
    },
  };
}

export function fakeFlood(verdict: FloodVerdict = 'ok'): FloodControl {
  return {
    check: () => Promise.resolve(verdict),
    failedAuth: () => Promise.resolve(),
  };
}

export function binding(contact: string, q = 1): Binding {
  return {
    contact,
    q,
    expiresAt: Date.now() + 3_600_000,
    callId: 'reg-1',
    cseq: 1,
    source: '192.0.2.20:5060',
  };
}

/** Bindings by AOR (`sip:user@domain`). */
export function fakeBindings(byAor: Record<string, Binding[]> = {}): BindingLookup {
  return { contacts: (aor) => Promise.resolve(byAor[aor] ?? []) };
}

/** A logger whose lines are kept (parsed) for assertions. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines };
}

/** A clock the test moves by hand. */
export function manualClock(start = Date.parse('2025-01-01T12:00:00.000Z')): {
  now(): number;
  advance(ms: number): void;
} {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}
