// The one module that touches drachtio-srf. Everything else in the edge sees SIP through the
// structural types of contracts.ts, so handlers are tested without a drachtio-server and a
// drachtio-srf upgrade is checked in one place.
import Srf from 'drachtio-srf';
import {
  DependencyUnavailableError,
  backoffDelay,
  defineComponent,
  type BackoffOptions,
  type Component,
  type Logger,
  type ReadinessCheck,
  type Secret,
} from '@switchboard/runtime';
import type { SipRequestLike, SipResponseLike } from './contracts.js';
import { callIdOf } from './digest.js';

/** A handler of one SIP method; a rejection is answered with 500 (if nothing was sent) and logged. */
export type SipHandler = (req: SipRequestLike, res: SipResponseLike) => Promise<void>;

/**
 * The methods the edge asks drachtio-server to route to it. ACK and CANCEL are left out on
 * purpose: drachtio-server and drachtio-srf match them to their INVITE (an ACK outside a
 * transaction has nothing to answer), so routing them would only add noise.
 */
export const routedSipMethods = [
  'INVITE',
  'REGISTER',
  'OPTIONS',
  'BYE',
  'INFO',
  'MESSAGE',
  'NOTIFY',
  'PRACK',
  'PUBLISH',
  'REFER',
  'SUBSCRIBE',
  'UPDATE',
] as const;
export type RoutedSipMethod = (typeof routedSipMethods)[number];

/** A SIP dialog drachtio-srf created (one leg of a B2BUA call). */
export interface SipDialogLike {
  readonly id: string;
  readonly callId?: string;
  destroy(): Promise<unknown>;
  on(event: 'destroy', listener: (msg: unknown) => void): unknown;
}

/** The outgoing INVITE of a B2BUA, as drachtio-srf's `cbRequest` gives it. */
export interface SentInviteLike {
  cancel(): void;
}

/** drachtio-srf's progress callbacks of a B2BUA (its "new signature" object). */
export interface B2buaProgress {
  readonly cbRequest?: (err: unknown, req: SentInviteLike) => void;
  readonly cbProvisional?: (res: { readonly status: number }) => void;
  readonly cbFinalizedUac?: (uac: SipDialogLike) => void;
}

/** What Srf#proxyRequest resolves with (the fields the edge reads). */
export interface ProxyResult {
  readonly connected?: boolean;
  readonly finalStatus?: number;
}

/** What `createB2BUA` gives on success: the caller's leg and the callee's leg. */
export interface B2buaDialogs {
  readonly uas: SipDialogLike;
  readonly uac: SipDialogLike;
}

/** drachtio-srf's B2BUA options the edge uses; see Srf#createB2BUA. */
export interface B2buaOptions {
  readonly headers?: Record<string, string>;
  readonly proxyRequestHeaders?: readonly string[];
  readonly proxyResponseHeaders?: readonly string[];
  /** Default true: a failure of the B leg is answered to the A leg with the same status. */
  readonly passFailure?: boolean;
  readonly localSdpA?: string;
  readonly localSdpB?: string;
}

/** drachtio-srf's proxy options the edge uses; see Srf#proxyRequest. */
export interface ProxyOptions {
  readonly forking?: 'sequential' | 'simultaneous';
  readonly remainInDialog?: boolean;
  readonly recordRoute?: boolean;
  readonly provisionalTimeout?: string;
  readonly finalTimeout?: string;
  readonly followRedirects?: boolean;
  readonly headers?: Record<string, string>;
}

export interface DrachtioAdapterOptions {
  /** drachtio-server's control address. */
  readonly host: string;
  readonly port: number;
  readonly secret: Secret;
  /** Tags drachtio-server may route on (at most 20, each ≤ 32 of `a-zA-Z0-9-_+@:`). */
  readonly tags?: readonly string[];
  /** Between reconnect attempts; default 250 ms doubling up to 10 s. */
  readonly reconnect?: BackoffOptions;
  readonly logger: Logger;
}

export interface DrachtioAdapter extends Component {
  /** True while the control connection is up and drachtio-server accepted the secret. */
  readonly connected: boolean;
  /** `drachtio`: ready only while `connected`. */
  readonly readiness: ReadinessCheck;
  /** The SIP address(es) drachtio-server said it listens on, once connected. */
  readonly hostport: string | undefined;
  /** SIP transactions being handled now (a handler's promise not yet settled). */
  readonly activeRequests: number;
  /**
   * Handles `method` with `handler` (one per method; a second call replaces it). Methods without
   * a handler get 405 with `Allow`; OPTIONS without one gets 200.
   */
  on(method: RoutedSipMethod, handler: SipHandler): void;
  /**
   * Sends OPTIONS to `uri` and resolves true when a final response below 500 arrives within
   * `timeoutMs` (any such answer, even 404 or 405, proves a SIP stack is there and not
   * overloaded). False on 5xx/6xx, on 408 (which drachtio-server makes up when nothing answers),
   * on the timeout, and while not connected. Never rejects.
   */
  optionsPing(uri: string, timeoutMs: number): Promise<boolean>;
  /** Srf#proxyRequest: stateful proxy of `req` to `destinations` (tried in order by default). */
  proxyRequest(
    req: SipRequestLike,
    destinations: readonly string[],
    options?: ProxyOptions,
  ): Promise<ProxyResult>;
  /** Srf#createB2BUA: bridges `req` to `uri`; rejects with the B leg's SipError on failure. */
  createB2BUA(
    req: SipRequestLike,
    res: SipResponseLike,
    uri: string,
    options?: B2buaOptions,
    progress?: B2buaProgress,
  ): Promise<B2buaDialogs>;
  /**
   * Calls `listener` when drachtio-server reports a call it proxied has ended (its `cdr:stop`):
   * the in-dialog requests of a proxied call never reach the edge, so this is how it learns.
   */
  onCallEnded(listener: (callId: string, reason: string) => void): void;
}

// drachtio-srf's bundled typings miss `use` and misdescribe `request` and `connect`, so the
// adapter states the part it calls and checks it against the runtime objects in the wire tests.
interface SrfEventsLike {
  on(event: 'connect', listener: (err: Error | null, hostport?: string) => void): unknown;
  on(event: 'close' | 'error' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  on(
    event: 'cdr:stop',
    listener: (
      source: string,
      time: string,
      reason: string,
      msg: { get(name: string): string },
    ) => void,
  ): unknown;
  removeAllListeners(): unknown;
}
interface SentRequestLike {
  on(event: 'response', listener: (res: { status: number }) => void): unknown;
}
interface SrfLike extends SrfEventsLike {
  connect(options: {
    host: string;
    port: number;
    secret: string;
    reconnect: { maxAttempts: number };
  }): unknown;
  disconnect(): void;
  use(method: string, handler: (req: unknown, res: unknown) => void): unknown;
  request(
    uri: string,
    options: { method: string; headers?: Record<string, string> },
    callback: (err: Error | null, req?: SentRequestLike) => void,
  ): unknown;
  proxyRequest(req: unknown, destination: string[], options: object): Promise<ProxyResult>;
  createB2BUA(
    req: unknown,
    res: unknown,
    uri: string,
    options: object,
    progress: B2buaProgress,
  ): Promise<B2buaDialogs>;
}

function newSrf(tags: readonly string[]): SrfLike {
  const SrfClass = Srf as unknown as new (tags?: string[]) => SrfLike;
  return tags.length === 0 ? new SrfClass() : new SrfClass([...tags]);
}

const defaultReconnect: BackoffOptions = { baseMs: 250, maxMs: 10_000 };

/**
 * The edge's connection to drachtio-server, as a component. `start()` connects and resolves at
 * once (the edge starts before its drachtio-server may be up; `/readyz` says when it is); the
 * adapter reconnects with `backoffDelay` whenever the control connection drops or the secret is
 * refused. drachtio-srf's own reconnect is switched off: its delay grows without a ceiling and
 * it reuses an agent whose state belonged to the old connection. Each attempt builds a fresh Srf,
 * so nothing of a dead connection leaks into the next.
 *
 * Requests reach the handler registered for their method; a handler that throws or rejects gets
 * 500 answered for it (unless it already answered) and never takes the process down. `close()`
 * waits for the handlers in flight, then disconnects; `destroy()` disconnects at once.
 */
export function createDrachtioAdapter(options: DrachtioAdapterOptions): DrachtioAdapter {
  const logger = options.logger.child({ component: 'drachtio' });
  const target = `${options.host}:${String(options.port)}`;
  const backoff = options.reconnect ?? defaultReconnect;
  const tags = options.tags ?? [];
  const handlers = new Map<string, SipHandler>();
  const inFlight = new Set<Promise<void>>();
  const callEndedListeners: ((callId: string, reason: string) => void)[] = [];

  let current: SrfLike | undefined;
  let connectedSrf: SrfLike | undefined;
  let hostport: string | undefined;
  let lastError = 'not connected yet';
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  function allow(): string {
    const methods = new Set<string>(['OPTIONS', ...handlers.keys()]);
    if (methods.has('INVITE')) methods.add('ACK').add('CANCEL');
    return [...methods].join(', ');
  }

  async function dispatch(req: SipRequestLike, res: SipResponseLike): Promise<void> {
    const handler = handlers.get(req.method);
    if (handler === undefined) {
      if (req.method === 'OPTIONS') {
        res.send(200, undefined, { headers: { Allow: allow(), Accept: 'application/sdp' } });
      } else {
        res.send(405, undefined, { headers: { Allow: allow() } });
      }
      return;
    }
    try {
      await handler(req, res);
    } catch (err) {
      logger.error({ err, method: req.method, callId: callIdOf(req) }, 'SIP handler failed');
      if (!res.finalResponseSent) res.send(500);
    }
  }

  function onRequest(req: unknown, res: unknown): void {
    // drachtio-srf's Request and Response are what the contracts describe structurally.
    const request = req as SipRequestLike;
    const response = res as SipResponseLike;
    const handling = dispatch(request, response).catch((err: unknown) => {
      // Only res.send itself can land here (e.g. the connection went away meanwhile).
      logger.warn({ err, method: request.method, callId: callIdOf(request) }, 'cannot answer');
    });
    inFlight.add(handling);
    void handling.finally(() => inFlight.delete(handling));
  }

  /** Closes a connection the adapter no longer uses, including one that has not opened yet. */
  function abandon(srf: SrfLike): void {
    srf.removeAllListeners();
    // A late event from the abandoned connection must not crash the process.
    srf.on('error', () => undefined);
    const close = (): void => {
      try {
        srf.disconnect();
      } catch {
        // drachtio-srf throws when the socket has not opened yet: the 'connect' below closes it.
      }
    };
    // An attempt still opening would otherwise authenticate later and take traffic as a zombie.
    srf.on('connect', close);
    close();
  }

  function scheduleReconnect(srf: SrfLike): void {
    if (stopped || srf !== current || retryTimer !== undefined) return;
    if (connectedSrf === srf) connectedSrf = undefined;
    current = undefined;
    abandon(srf);
    attempt += 1;
    const delayMs = backoffDelay(attempt, backoff);
    logger.warn({ target, attempt, delayMs, reason: lastError }, 'drachtio: reconnecting');
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect();
    }, delayMs);
  }

  function connect(): void {
    if (stopped) return;
    const srf = newSrf(tags);
    current = srf;
    for (const method of routedSipMethods) srf.use(method.toLowerCase(), onRequest);
    if (callEndedListeners.length > 0) {
      srf.on('cdr:stop', (_source, _time, reason, msg) => {
        const callId = msg.get('Call-ID');
        for (const listener of callEndedListeners) {
          try {
            listener(callId, reason);
          } catch (err) {
            logger.error({ err, callId }, 'a cdr:stop listener failed');
          }
        }
      });
    }
    srf.on('connect', (err, hp) => {
      if (srf !== current) return;
      if (err !== null) {
        lastError = `drachtio-server at ${target} refused the secret`;
        logger.error({ target }, 'drachtio: authentication failed; check the shared secret');
        scheduleReconnect(srf);
        return;
      }
      attempt = 0;
      connectedSrf = srf;
      hostport = hp;
      logger.info({ target, hostport: hp }, 'drachtio: connected');
    });
    srf.on('error', (err) => {
      if (srf !== current) return;
      lastError = err instanceof Error ? err.message : String(err);
      scheduleReconnect(srf);
    });
    srf.on('close', () => {
      if (srf !== current) return;
      if (connectedSrf === srf) {
        lastError = 'control connection closed';
        logger.warn({ target }, 'drachtio: control connection lost');
      }
      scheduleReconnect(srf);
    });
    // maxAttempts 1: drachtio-srf must not reconnect by itself (see above).
    srf.connect({
      host: options.host,
      port: options.port,
      secret: options.secret.reveal(),
      reconnect: { maxAttempts: 1 },
    });
  }

  function disconnect(): void {
    stopped = true;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    const srf = current;
    current = undefined;
    connectedSrf = undefined;
    if (srf !== undefined) abandon(srf);
  }

  function requireConnected(): SrfLike {
    if (connectedSrf === undefined) {
      throw new DependencyUnavailableError('drachtio', `not connected to ${target}: ${lastError}`);
    }
    return connectedSrf;
  }

  const lifecycle = defineComponent({
    start() {
      connect();
      return Promise.resolve();
    },
    async close() {
      // The handlers in flight finish (their responses still go out), then the connection goes.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      disconnect();
    },
    destroy() {
      disconnect();
      return Promise.resolve();
    },
  });

  return {
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
    destroy: () => lifecycle.destroy(),
    get connected() {
      return connectedSrf !== undefined;
    },
    get hostport() {
      return connectedSrf === undefined ? undefined : hostport;
    },
    get activeRequests() {
      return inFlight.size;
    },
    readiness: {
      name: 'drachtio',
      target,
      check: () =>
        connectedSrf === undefined
          ? Promise.reject(
              new DependencyUnavailableError(
                'drachtio',
                `not connected to ${target}: ${lastError}`,
              ),
            )
          : Promise.resolve(),
    },
    on(method, handler) {
      handlers.set(method, handler);
    },
    optionsPing(uri, timeoutMs) {
      const srf = connectedSrf;
      if (srf === undefined) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          resolve(false);
        }, timeoutMs);
        const settle = (ok: boolean): void => {
          clearTimeout(timer);
          resolve(ok);
        };
        try {
          srf.request(uri, { method: 'OPTIONS' }, (err, sent) => {
            if (err !== null || sent === undefined) {
              settle(false);
              return;
            }
            sent.on('response', (res) => {
              if (res.status >= 200) settle(res.status < 500 && res.status !== 408);
            });
          });
        } catch (err) {
          logger.debug({ err, uri }, 'drachtio: OPTIONS ping not sent');
          settle(false);
        }
      });
    },
    async proxyRequest(req, destinations, proxyOptions = {}) {
      return requireConnected().proxyRequest(req, [...destinations], { ...proxyOptions });
    },
    onCallEnded(listener) {
      // Registered before start: drachtio-server is asked for CDRs only when someone listens.
      callEndedListeners.push(listener);
    },
    async createB2BUA(req, res, uri, b2buaOptions = {}, progress = {}) {
      const srf = requireConnected();
      const { proxyRequestHeaders, proxyResponseHeaders, ...rest } = b2buaOptions;
      return srf.createB2BUA(
        req,
        res,
        uri,
        {
          ...rest,
          ...(proxyRequestHeaders === undefined
            ? {}
            : { proxyRequestHeaders: [...proxyRequestHeaders] }),
          ...(proxyResponseHeaders === undefined
            ? {}
            : { proxyResponseHeaders: [...proxyResponseHeaders] }),
        },
        progress,
      );
    },
  };
}
