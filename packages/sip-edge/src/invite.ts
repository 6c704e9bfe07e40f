// INVITE routing for the SIP edge. An authenticated caller reaches a registered local user by a
// stateful proxy forking to every contact at once, or anything else through a PBX node: the least
// loaded one that answers probes, failing over to the next on 408, 5xx or silence. The handler
// sees drachtio-srf through the narrow `InviteSrf` below, so unit tests pass a fake and only the
// adapter (srf.ts) touches the real thing.
import type { Logger } from '@switchboard/runtime';
import type { CallDirection, CallTracker, TrackedCall } from './calls.js';
import type {
  AuthenticatedUser,
  Authenticator,
  BindingLookup,
  FloodControl,
  PbxNode,
  SipRequestLike,
  SipResponseLike,
} from './contracts.js';
import { SipInvalidArgumentError, positiveIntegerOption } from './errors.js';
import type { PbxPool } from './pbx.js';

// ---- the part of drachtio-srf the handler uses ---------------------------------------------------

/** Options of `srf.proxyRequest` the handler sets. */
export interface InviteProxyOptions {
  readonly forking: 'simultaneous';
  readonly recordRoute: true;
  readonly followRedirects: false;
}

/** What `srf.proxyRequest` resolves with (the fields the handler reads). */
export interface ProxyOutcome {
  readonly finalStatus?: number;
  readonly connected?: boolean;
}

/** Options of `srf.createB2BUA` the handler sets. */
export interface InviteB2buaOptions {
  readonly headers: Record<string, string>;
  readonly proxyRequestHeaders: string[];
  /** Always false: the handler answers the caller itself, so it can fail over first. */
  readonly passFailure: false;
}

/** The outgoing INVITE of a B2BUA attempt, as drachtio's `cbRequest` hands it over. */
export interface OutgoingInvite {
  cancel(): void;
}

export interface InviteB2buaProgress {
  readonly cbRequest: (err: unknown, req: OutgoingInvite) => void;
  readonly cbProvisional: (res: { readonly status: number }) => void;
  readonly cbFinalizedUac: (uac: CallDialog) => void;
}

/** A drachtio `Dialog`, as far as the handler uses one. */
export interface CallDialog {
  on(event: 'destroy', listener: () => void): unknown;
  /** drachtio's returns a promise when given no callback. */
  destroy(): unknown;
}

/**
 * The part of a drachtio-srf `Srf` the handler uses. The adapter passes the real one through
 * (`srf.proxyRequest(req, destinations, opts)` and `srf.createB2BUA(req, res, uri, opts,
 * progress)` already have these shapes; only the request types need a cast).
 */
export interface InviteSrf {
  proxyRequest(
    req: SipRequestLike,
    destinations: string[],
    options: InviteProxyOptions,
  ): Promise<ProxyOutcome>;
  createB2BUA(
    req: SipRequestLike,
    res: SipResponseLike,
    uri: string,
    options: InviteB2buaOptions,
    progress: InviteB2buaProgress,
  ): Promise<{ uas: CallDialog; uac: CallDialog }>;
}

// ---- routing policy --------------------------------------------------------------------------------

/** Whether an authenticated user may call a target. */
export interface RoutePolicy {
  mayRoute(user: AuthenticatedUser, targetUri: string): boolean;
}

export interface RoutePolicyConfig {
  readonly localDomains: readonly string[];
  /**
   * For each caller domain, the prefixes of the targets its users may call through a PBX (the
   * user part of the target URI: `+1`, `00`, `9`…). `*` applies to domains without an entry of
   * their own; the prefix `''` allows every target. Default `{ '*': [''] }`: every authenticated
   * user may call every PBX route, and the PBX's own dial plan decides.
   */
  readonly pbxPrefixes?: Readonly<Record<string, readonly string[]>>;
}

export const defaultPbxPrefixes: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '*': Object.freeze(['']),
});

/** A target's URI, taken apart as far as routing needs. */
export interface SipTarget {
  readonly scheme: 'sip' | 'sips' | 'tel';
  /** The user part as it appears in the URI (still escaped); '' when there is none. */
  readonly rawUser: string;
  /** The user part unescaped. */
  readonly user: string;
  /** Lower-cased host without port; '' for a tel: URI. */
  readonly host: string;
}

const sipUriPattern = /^(sips?):(?:([^@;?]*)@)?(\[[^\]]+\]|[^:;?>]+)/i;
const telUriPattern = /^tel:([^;?]+)/i;
/** A dial string: what a phone sends for a number, an extension or a feature code. */
const dialStringPattern = /^[+*#]?[0-9*#]+$/;

function unescapeUser(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Parses a sip:, sips: or tel: URI (angle brackets allowed); undefined for anything else. */
export function parseTarget(uri: string): SipTarget | undefined {
  const text = uri.trim().replace(/^<(.*)>$/, '$1');
  const tel = telUriPattern.exec(text);
  if (tel?.[1] !== undefined) {
    return { scheme: 'tel', rawUser: tel[1], user: unescapeUser(tel[1]), host: '' };
  }
  const sip = sipUriPattern.exec(text);
  if (sip?.[1] === undefined || sip[3] === undefined) return undefined;
  const rawUser = sip[2] ?? '';
  return {
    scheme: sip[1].toLowerCase() === 'sips' ? 'sips' : 'sip',
    rawUser,
    user: unescapeUser(rawUser),
    host: sip[3].toLowerCase(),
  };
}

export function isDialString(user: string): boolean {
  return dialStringPattern.test(user.replace(/[-.() ]/g, ''));
}

/**
 * The default policy: every authenticated user may call a local user; a PBX route (a non-local
 * target, or a dial string in a local domain that is no account) only when its user part starts
 * with one of the prefixes configured for the caller's domain.
 */
export function createRoutePolicy(config: RoutePolicyConfig): RoutePolicy {
  const local = new Set(config.localDomains.map((domain) => domain.toLowerCase()));
  const prefixes = new Map(
    Object.entries(config.pbxPrefixes ?? defaultPbxPrefixes).map(([domain, list]) => [
      domain.toLowerCase(),
      [...list],
    ]),
  );
  return {
    mayRoute(user, targetUri) {
      const target = parseTarget(targetUri);
      if (target === undefined || target.user === '') return false;
      if (target.scheme !== 'tel' && local.has(target.host) && !isDialString(target.user)) {
        return true;
      }
      const allowed = prefixes.get(user.domain.toLowerCase()) ?? prefixes.get('*') ?? [];
      return allowed.some((prefix) => target.user.startsWith(prefix));
    },
  };
}

// ---- the handler -------------------------------------------------------------------------------

export interface InviteHandlerOptions {
  readonly srf: InviteSrf;
  readonly authenticator: Authenticator;
  readonly flood: FloodControl;
  readonly bindings: BindingLookup;
  /** Whether a local account exists (enabled or not), for 404 versus 480. */
  readonly userExists: (username: string, domain: string) => Promise<boolean>;
  readonly pbx: Pick<PbxPool, 'candidates' | 'callStarted' | 'callEnded'>;
  readonly calls: CallTracker;
  /** Domains (and addresses) this edge serves users of; compared case-insensitively. */
  readonly localDomains: readonly string[];
  /** Default: `createRoutePolicy({ localDomains })`. */
  readonly policy?: RoutePolicy;
  /** True once the edge drains: new INVITEs get 503 with Retry-After. */
  readonly draining: () => boolean;
  /** Retry-After on 503 answers while draining or flood-limited; default 30. */
  readonly retryAfterSeconds?: number;
  /**
   * A PBX that sends no response at all (not even 100 Trying) within this time is given up for
   * the next one; default 5000. Without it a dead PBX would hold the call for Timer B (32 s).
   */
  readonly pbxAttemptTimeoutMs?: number;
  readonly edgeId: string;
  readonly logger: Logger;
}

export interface InviteHandler {
  /** Answers or routes one INVITE. Never rejects: an unexpected failure is logged and answered 500. */
  handle(req: SipRequestLike, res: SipResponseLike): Promise<void>;
  /**
   * A proxied call ended (the drachtio adapter hears it as `cdr:stop`, since in-dialog requests
   * of a proxied call stay in drachtio-server). Returns false when no such call is live.
   */
  proxiedCallEnded(callId: string, reason?: string): boolean;
}

type AttemptResult =
  | { readonly kind: 'connected'; readonly uas: CallDialog; readonly uac: CallDialog }
  | {
      readonly kind: 'failed';
      readonly status: number;
      readonly reason?: string;
      readonly failover: boolean;
      readonly cause: string;
    };

function send(
  res: SipResponseLike,
  status: number,
  logger: Logger,
  reason?: string,
  headers?: Record<string, string>,
): void {
  if (res.finalResponseSent) return;
  try {
    if (headers === undefined) res.send(status, reason);
    else res.send(status, reason, { headers });
  } catch (err) {
    logger.error({ err, status }, 'could not answer an INVITE');
  }
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && Number.isInteger(status) && status >= 300 && status < 700
    ? status
    : undefined;
}

function reasonOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason.length > 0 ? reason : undefined;
}

/** 408 and 5xx say this PBX could not take the call now: another may. */
function failsOver(status: number): boolean {
  return status === 408 || (status >= 500 && status < 600);
}

function destroyQuietly(dialog: CallDialog, logger: Logger): void {
  try {
    Promise.resolve(dialog.destroy()).catch((err: unknown) => {
      logger.debug({ err }, 'could not hang up a call leg');
    });
  } catch (err) {
    logger.debug({ err }, 'could not hang up a call leg');
  }
}

/**
 * The response a B2BUA attempt writes to. Once the attempt is abandoned (its PBX said nothing in
 * time and the next one is being tried) its late provisional responses and 200 OK must not reach
 * the caller: `send` drops them and fails the send callback, so drachtio's createUAS rejects and
 * tears down the leg it had.
 */
function guardedResponse(res: SipResponseLike): { res: SipResponseLike; abandon(): void } {
  let abandoned = false;
  const guarded = Object.create(res) as SipResponseLike;
  Object.defineProperty(guarded, 'send', {
    value: (...args: unknown[]) => {
      if (!abandoned) {
        (res.send as (...a: unknown[]) => void).apply(res, args);
        return;
      }
      const callback = args.find((arg) => typeof arg === 'function') as
        ((err: Error) => void) | undefined;
      callback?.(new Error('the call attempt was abandoned for another PBX'));
    },
  });
  return {
    res: guarded,
    abandon() {
      abandoned = true;
    },
  };
}

function header(req: SipRequestLike, name: string): string | undefined {
  // drachtio's `get` returns undefined for a missing header, whatever its type says.
  const value = req.get(name) as string | undefined;
  return value === undefined || value === '' ? undefined : value;
}

/** drachtio's request has no `callId` property, whatever its typings say: read the header. */
function callIdOf(req: SipRequestLike): string {
  const fromProperty = (req as { callId?: unknown }).callId;
  return (
    header(req, 'Call-ID') ??
    (typeof fromProperty === 'string' ? fromProperty : undefined) ??
    'unknown'
  );
}

interface RequestContext {
  readonly callId: string;
  readonly logger: Logger;
  /** The call once tracking began, so a failure after it still ends it. */
  call?: TrackedCall;
}

/** Contact URIs as the registrar stored them; a bracketed name-addr is reduced to its URI. */
function contactUri(contact: string): string {
  const bracketed = /<([^>]+)>/.exec(contact);
  return (bracketed?.[1] ?? contact).trim();
}

export function createInviteHandler(options: InviteHandlerOptions): InviteHandler {
  const { srf, authenticator, flood, bindings, userExists, pbx, calls, draining } = options;
  const retryAfterSeconds = positiveIntegerOption(
    'retryAfterSeconds',
    options.retryAfterSeconds ?? 30,
  );
  const attemptTimeoutMs = positiveIntegerOption(
    'pbxAttemptTimeoutMs',
    options.pbxAttemptTimeoutMs ?? 5000,
  );
  if (options.localDomains.length === 0) {
    throw new SipInvalidArgumentError('localDomains', 'at least one local domain is needed');
  }
  const localDomains = new Set(options.localDomains.map((domain) => domain.toLowerCase()));
  const policy = options.policy ?? createRoutePolicy({ localDomains: options.localDomains });
  const baseLogger = options.logger.child({ component: 'invite' });
  const retryAfter = { 'Retry-After': String(retryAfterSeconds) };

  async function proxyToContacts(
    req: SipRequestLike,
    res: SipResponseLike,
    call: TrackedCall,
    contacts: string[],
    logger: Logger,
  ): Promise<void> {
    let outcome: ProxyOutcome;
    try {
      outcome = await srf.proxyRequest(req, contacts, {
        forking: 'simultaneous',
        recordRoute: true,
        followRedirects: false,
      });
    } catch (err) {
      logger.error({ err, contacts }, 'could not proxy the INVITE');
      send(res, 500, logger);
      call.ended({ sipStatus: 500, hangupCause: 'proxy-error' });
      return;
    }
    const status = outcome.finalStatus;
    if (outcome.connected === true || (status !== undefined && status >= 200 && status < 300)) {
      // The call lives on in drachtio-server (record-routed); its end arrives as `cdr:stop`.
      call.answered();
      return;
    }
    call.ended(status === undefined ? { hangupCause: 'no-response' } : { sipStatus: status });
  }

  async function attempt(
    req: SipRequestLike,
    res: SipResponseLike,
    uri: string,
    headers: Record<string, string>,
    logger: Logger,
  ): Promise<AttemptResult> {
    const guard = guardedResponse(res);
    let outgoing: OutgoingInvite | undefined;
    // An object, not a `let`: it changes in callbacks, where narrowing cannot see it.
    const state = { timedOut: false };
    let timer: NodeJS.Timeout | undefined;

    const b2bua = srf.createB2BUA(
      req,
      guard.res,
      uri,
      { headers, proxyRequestHeaders: [], passFailure: false },
      {
        cbRequest: (_err, sent) => {
          outgoing = sent;
        },
        cbProvisional: () => {
          // The PBX is alive: from now on it rings as long as it likes.
          clearTimeout(timer);
        },
        cbFinalizedUac: (uac) => {
          clearTimeout(timer);
          // An answer after this PBX was given up: hang that leg up at once.
          if (state.timedOut) destroyQuietly(uac, logger);
        },
      },
    );
    const timeout = new Promise<AttemptResult>((resolve) => {
      timer = setTimeout(() => {
        // Abandoned here, synchronously, so nothing this attempt sends later reaches the caller.
        state.timedOut = true;
        guard.abandon();
        resolve({
          kind: 'failed',
          status: 408,
          failover: true,
          cause: `no response in ${attemptTimeoutMs} ms`,
        });
      }, attemptTimeoutMs);
    });
    const result = await Promise.race([
      b2bua.then(
        ({ uas, uac }): AttemptResult => ({ kind: 'connected', uas, uac }),
        (err: unknown): AttemptResult => {
          const status = statusOf(err);
          if (status === undefined) {
            // Not a SIP answer (the drachtio link, a transport error): the PBX may be fine, but
            // another can be tried as safely as after a 500.
            logger.warn({ err }, 'call attempt failed without a SIP status');
            return { kind: 'failed', status: 500, failover: true, cause: 'error' };
          }
          const reason = reasonOf(err);
          return {
            kind: 'failed',
            status,
            ...(reason === undefined ? {} : { reason }),
            failover: failsOver(status),
            cause: `sip-${status}`,
          };
        },
      ),
      timeout,
    ]);
    clearTimeout(timer);
    if (state.timedOut) {
      try {
        outgoing?.cancel();
      } catch (err) {
        logger.debug({ err }, 'could not cancel an abandoned call attempt');
      }
      // If the abandoned attempt connects anyway, both its legs go.
      b2bua.then(
        ({ uas, uac }) => {
          destroyQuietly(uac, logger);
          destroyQuietly(uas, logger);
        },
        () => undefined,
      );
    }
    return result;
  }

  async function routeToPbx(
    req: SipRequestLike,
    res: SipResponseLike,
    call: TrackedCall,
    user: AuthenticatedUser,
    target: SipTarget,
    logger: Logger,
  ): Promise<void> {
    const candidates: PbxNode[] = pbx.candidates();
    if (candidates.length === 0) {
      logger.warn('no PBX node can take the call');
      send(res, 503, logger, undefined, retryAfter);
      call.ended({ sipStatus: 503, hangupCause: 'no-pbx' });
      return;
    }
    const headers = { 'P-Asserted-Identity': `<sip:${user.username}@${user.domain}>` };
    let last: { status: number; cause: string } | undefined;
    for (const node of candidates) {
      if (res.finalResponseSent) break;
      const nodeLogger = logger.child({ nodeId: node.id });
      call.routedTo(node.id);
      pbx.callStarted(node.id);
      const uri = `sip:${target.rawUser}@${node.address}`;
      let result: AttemptResult;
      try {
        result = await attempt(req, res, uri, headers, nodeLogger);
      } catch (err) {
        pbx.callEnded(node.id);
        throw err;
      }
      if (result.kind === 'connected') {
        connect(call, node, result.uas, result.uac, nodeLogger);
        return;
      }
      pbx.callEnded(node.id);
      if (!result.failover) {
        // The call reached a PBX and it said no (busy, declined, cancelled by the caller…).
        send(res, result.status, nodeLogger, result.reason);
        call.ended({ sipStatus: result.status });
        return;
      }
      nodeLogger.warn(
        { status: result.status, cause: result.cause, uri },
        'PBX failed the call; trying the next',
      );
      last = { status: result.status, cause: result.cause };
    }
    if (res.finalResponseSent) {
      // The caller cancelled between attempts (drachtio answered 487 for us).
      call.ended({ sipStatus: 487, hangupCause: 'cancel' });
      return;
    }
    logger.warn({ tried: candidates.length, last }, 'every PBX node failed the call');
    send(res, 503, logger, undefined, retryAfter);
    call.ended({
      sipStatus: 503,
      hangupCause: `pbx-unavailable (last ${last === undefined ? 'none' : last.cause})`,
    });
  }

  function connect(
    call: TrackedCall,
    node: PbxNode,
    uas: CallDialog,
    uac: CallDialog,
    logger: Logger,
  ): void {
    call.answered();
    let over = false;
    const finish = (cause: string, other: CallDialog) => {
      if (over) return;
      over = true;
      destroyQuietly(other, logger);
      pbx.callEnded(node.id);
      call.ended({ hangupCause: cause });
    };
    uas.on('destroy', () => {
      finish('caller-bye', uac);
    });
    uac.on('destroy', () => {
      finish('callee-bye', uas);
    });
  }

  async function route(
    req: SipRequestLike,
    res: SipResponseLike,
    ctx: RequestContext,
  ): Promise<void> {
    const { logger } = ctx;
    const verdict = await flood.check(req.source_address);
    if (verdict === 'banned') {
      send(res, 403, logger);
      return;
    }
    if (verdict === 'limited') {
      send(res, 503, logger, undefined, retryAfter);
      return;
    }
    if (/;\s*tag=/i.test(header(req, 'To') ?? '')) {
      // An in-dialog INVITE for a dialog drachtio does not know.
      send(res, 481, logger);
      return;
    }
    if (draining()) {
      send(res, 503, logger, 'Draining', retryAfter);
      return;
    }
    const user = await authenticator.authenticate(req, res, 'proxy');
    if (user === undefined) return;

    const target = parseTarget(req.uri);
    if (target === undefined) {
      send(res, 416, logger);
      return;
    }
    const isLocal = target.scheme !== 'tel' && localDomains.has(target.host);
    const from = `sip:${user.username}@${user.domain}`;
    const to =
      target.scheme === 'tel'
        ? `tel:${target.rawUser}`
        : `${target.scheme}:${target.rawUser}@${target.host}`;
    const begin = (direction: CallDirection) => {
      const userAgent = header(req, 'User-Agent');
      ctx.call = calls.begin({
        callId: ctx.callId,
        from,
        to,
        direction,
        sourceIp: req.source_address,
        ...(userAgent === undefined ? {} : { userAgent }),
      });
      return ctx.call;
    };

    if (isLocal && target.user !== '') {
      const aor = `sip:${target.user}@${target.host}`;
      const contacts = await bindings.contacts(aor);
      if (contacts.length > 0) {
        if (!policy.mayRoute(user, to)) {
          send(res, 403, logger);
          return;
        }
        const call = begin('internal');
        await proxyToContacts(
          req,
          res,
          call,
          contacts.map((b) => contactUri(b.contact)),
          logger,
        );
        return;
      }
      if (await userExists(target.user, target.host)) {
        if (!policy.mayRoute(user, to)) {
          send(res, 403, logger);
          return;
        }
        const call = begin('internal');
        send(res, 480, logger);
        call.ended({ sipStatus: 480, hangupCause: 'not-registered' });
        return;
      }
      if (!isDialString(target.user)) {
        send(res, 404, logger);
        return;
      }
      // A number in a local domain that is no account: the PBX's dial plan decides.
    } else if (target.user === '') {
      send(res, 404, logger);
      return;
    }

    if (!policy.mayRoute(user, to)) {
      logger.info({ user: from, to }, 'route not allowed for this caller');
      send(res, 403, logger);
      return;
    }
    const call = begin('outbound');
    await routeToPbx(req, res, call, user, target, logger);
  }

  return {
    async handle(req, res) {
      const callId = callIdOf(req);
      const ctx: RequestContext = { callId, logger: baseLogger.child({ callId }) };
      try {
        await route(req, res, ctx);
      } catch (err) {
        ctx.logger.error({ err }, 'INVITE handling failed');
        send(res, 500, ctx.logger);
        // A call begun before the failure must not count as live forever.
        if (ctx.call !== undefined && !ctx.call.isAnswered) {
          ctx.call.ended({ sipStatus: 500, hangupCause: 'error' });
        }
      }
    },

    proxiedCallEnded(callId, reason) {
      const call = calls.get(callId);
      if (call === undefined) return false;
      call.ended(reason === undefined ? {} : { hangupCause: reason });
      return true;
    },
  };
}
