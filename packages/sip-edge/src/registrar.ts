// The REGISTER handler (RFC 3261 §10.3): flood check, digest authentication, then the bindings
// of the authenticated user's address of record.
import { SwitchboardError, systemClock, type Clock, type Logger } from '@switchboard/runtime';
import {
  aorOf,
  contactExpires,
  parseNameAddr,
  parseQ,
  splitHeaderList,
  type BindingStore,
  type ContactChange,
  type RegisterOutcome,
} from './bindings.js';
import type {
  Authenticator,
  Binding,
  FloodControl,
  SipRequestLike,
  SipResponseLike,
} from './contracts.js';
import { callIdOf } from './digest.js';
import { SipInvalidArgumentError, positiveIntegerOption } from './errors.js';

export interface RegistrarOptions {
  readonly authenticator: Authenticator;
  readonly bindings: BindingStore;
  readonly flood: Pick<FloodControl, 'check'>;
  /** The domains this platform serves; a REGISTER for another one gets 403. */
  readonly domains: readonly string[];
  /** Seconds; default the binding store's. */
  readonly minExpires?: number;
  /** Seconds; default the binding store's. */
  readonly maxExpires?: number;
  /**
   * A banned source: `drop` (default) sends nothing, so a scanner learns nothing and costs no
   * bandwidth; `403` answers Forbidden.
   */
  readonly bannedResponse?: 'drop' | 403;
  /**
   * A source over its rate: `503` (default) answers Service Unavailable with Retry-After, or
   * `drop`. See `createRegistrar` for why 503 is the default.
   */
  readonly limitedResponse?: 'drop' | 503;
  /** Retry-After of a 503 for a limited source, seconds. Default 5. */
  readonly retryAfterSeconds?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
}

export interface Registrar {
  /** Handles a REGISTER; never throws (an unexpected error is logged and answered 500). */
  handle(req: SipRequestLike, res: SipResponseLike): Promise<void>;
}

/** A Contact header value listing the bindings, each with its remaining `expires`. */
export function contactHeader(bindings: readonly Binding[], now: number): string {
  return bindings
    .map((b) => {
      const expires = Math.max(0, Math.ceil((b.expiresAt - now) / 1000));
      // q is written only when the phone gave one other than the default 1.
      return `<${b.contact}>;expires=${expires}${b.q === 1 ? '' : `;q=${formatQ(b.q)}`}`;
    })
    .join(', ');
}

function formatQ(q: number): string {
  return String(Math.round(q * 1000) / 1000);
}

type ParsedContacts =
  | { readonly kind: 'none' }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'contacts'; readonly contacts: readonly ContactChange[] }
  | { readonly kind: 'too-brief' }
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Creates the registrar. Choices:
 * - A banned source is dropped by default (configurable to 403): a ban follows repeated failed
 *   authentications, which is what scanners do, and silence gives them nothing to work with.
 * - A source over its rate gets 503 with Retry-After by default (configurable to drop): the
 *   limit is per IP, so it also trips for many legitimate phones behind one NAT, and an answer
 *   stops their retransmissions and tells them when to come back, where silence would make each
 *   UDP REGISTER be retransmitted for 32 s, adding to the flood.
 */
export function createRegistrar(options: RegistrarOptions): Registrar {
  const { authenticator, bindings, flood } = options;
  const minExpires = positiveIntegerOption(
    'minExpires',
    options.minExpires ?? bindings.limits.minExpires,
  );
  const maxExpires = positiveIntegerOption(
    'maxExpires',
    options.maxExpires ?? bindings.limits.maxExpires,
  );
  if (minExpires > maxExpires) {
    throw new SipInvalidArgumentError('minExpires', `must be ≤ maxExpires (${maxExpires})`);
  }
  const limits = {
    minExpires,
    maxExpires,
    defaultExpires: Math.min(Math.max(bindings.limits.defaultExpires, minExpires), maxExpires),
  };
  const bannedResponse = options.bannedResponse ?? 'drop';
  const limitedResponse = options.limitedResponse ?? 503;
  // Checked at run time too: a config loaded from JSON is not checked by the compiler.
  if (!(['drop', 403] as unknown[]).includes(bannedResponse)) {
    throw new SipInvalidArgumentError('bannedResponse', "must be 'drop' or 403");
  }
  if (!(['drop', 503] as unknown[]).includes(limitedResponse)) {
    throw new SipInvalidArgumentError('limitedResponse', "must be 'drop' or 503");
  }
  const retryAfter = positiveIntegerOption('retryAfterSeconds', options.retryAfterSeconds ?? 5);
  const domains = new Set(options.domains.map((d) => d.toLowerCase()));
  if (domains.size === 0) throw new SipInvalidArgumentError('domains', 'must name a domain');
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ component: 'sip-registrar' });

  function parseContacts(req: SipRequestLike): ParsedContacts {
    const expiresHeader = req.has('Expires') ? req.get('Expires').trim() : undefined;
    if (expiresHeader !== undefined && !/^\d{1,10}$/.test(expiresHeader)) {
      return { kind: 'bad', reason: 'Malformed Expires header' };
    }
    if (!req.has('Contact')) return { kind: 'none' };
    const elements = splitHeaderList(req.get('Contact'));
    if (elements === undefined || elements.some((e) => e === '')) {
      return { kind: 'bad', reason: 'Malformed Contact header' };
    }
    if (elements.includes('*')) {
      // RFC 3261 §10.3 step 6: `*` only alone, and only with Expires: 0.
      if (elements.length !== 1 || expiresHeader === undefined || Number(expiresHeader) !== 0) {
        return { kind: 'bad', reason: 'Contact * needs Expires: 0 and no other contact' };
      }
      return { kind: 'wildcard' };
    }
    const contacts: ContactChange[] = [];
    for (const element of elements) {
      const nameAddr = parseNameAddr(element);
      if (nameAddr === undefined || !/^sips?:/i.test(nameAddr.uri)) {
        return { kind: 'bad', reason: 'Malformed Contact header' };
      }
      const expires = contactExpires(nameAddr.params.get('expires'), expiresHeader, limits);
      if (expires === 'invalid') return { kind: 'bad', reason: 'Malformed expires parameter' };
      if (expires === 'too-brief') return { kind: 'too-brief' };
      const q = parseQ(nameAddr.params.get('q'));
      if (q !== undefined && Number.isNaN(q)) return { kind: 'bad', reason: 'Malformed q value' };
      // The same contact twice in one REGISTER: the last one wins, as in a sequence of them.
      const index = contacts.findIndex((c) => c.uri === nameAddr.uri);
      const change: ContactChange = {
        uri: nameAddr.uri,
        expires,
        ...(q === undefined ? {} : { q }),
      };
      if (index >= 0) contacts[index] = change;
      else contacts.push(change);
    }
    return { kind: 'contacts', contacts };
  }

  function ok(res: SipResponseLike, current: readonly Binding[]): void {
    const now = clock.now();
    const headers: Record<string, string> = { Date: new Date(now).toUTCString() };
    if (current.length > 0) headers.Contact = contactHeader(current, now);
    res.send(200, 'OK', { headers });
  }

  function refused(res: SipResponseLike, outcome: RegisterOutcome & { ok: false }): void {
    if (outcome.reason === 'out-of-order') {
      // RFC 3261 §10.3 step 7: a REGISTER older than the binding's fails with 500.
      res.send(500, 'Out of order REGISTER', { headers: { 'Retry-After': '1' } });
    } else {
      res.send(403, 'Too many contacts');
    }
  }

  async function register(req: SipRequestLike, res: SipResponseLike): Promise<void> {
    if (req.method !== 'REGISTER') {
      res.send(405, 'Method Not Allowed', { headers: { Allow: 'REGISTER' } });
      return;
    }
    const source = req.source_address;
    const verdict = await flood.check(source);
    if (verdict === 'banned') {
      if (bannedResponse === 403) res.send(403, 'Forbidden');
      return;
    }
    if (verdict === 'limited') {
      if (limitedResponse === 503) {
        res.send(503, 'Service Unavailable', { headers: { 'Retry-After': String(retryAfter) } });
      }
      return;
    }

    const to = aorOf(req.has('To') ? req.get('To') : undefined);
    if (to === undefined) {
      res.send(400, 'Malformed To header');
      return;
    }
    if (!domains.has(to.domain)) {
      res.send(403, 'Domain not served here');
      return;
    }
    const callId = callIdOf(req)?.trim();
    const cseqMatch = /^\s*(\d{1,10})\s+REGISTER\s*$/i.exec(req.has('CSeq') ? req.get('CSeq') : '');
    if (callId === undefined || callId === '' || cseqMatch === null) {
      res.send(400, 'Malformed Call-ID or CSeq');
      return;
    }
    const cseq = Number(cseqMatch[1]);

    const user = await authenticator.authenticate(req, res);
    if (user === undefined) return; // answered: 401, 403, 400 or 500
    if (user.username !== to.user || user.domain !== to.domain) {
      logger.warn(
        { user: `${user.username}@${user.domain}`, aor: to.aor, source },
        'REGISTER for an AOR other than the authenticated user',
      );
      res.send(403, 'Not allowed to register this address');
      return;
    }

    const parsed = parseContacts(req);
    switch (parsed.kind) {
      case 'bad':
        res.send(400, parsed.reason);
        return;
      case 'too-brief':
        res.send(423, 'Interval Too Brief', {
          headers: { 'Min-Expires': String(minExpires) },
        });
        return;
      case 'none':
        ok(res, await bindings.contacts(to.aor));
        return;
      case 'wildcard': {
        const outcome = await bindings.removeAll(to.aor, { callId, cseq });
        if (!outcome.ok) {
          refused(res, outcome);
          return;
        }
        logger.info({ aor: to.aor, source }, 'every binding removed');
        ok(res, outcome.contacts);
        return;
      }
      case 'contacts': {
        const userAgent = req.has('User-Agent') ? req.get('User-Agent') : undefined;
        const outcome = await bindings.register(to.aor, {
          callId,
          cseq,
          source: formatSource(source, req.source_port),
          transport: req.protocol,
          ...(userAgent === undefined ? {} : { userAgent }),
          contacts: parsed.contacts,
        });
        if (!outcome.ok) {
          refused(res, outcome);
          return;
        }
        logger.debug(
          { aor: to.aor, source, contacts: outcome.contacts.length },
          'bindings updated',
        );
        ok(res, outcome.contacts);
        return;
      }
    }
  }

  return {
    async handle(req, res) {
      try {
        await register(req, res);
      } catch (err) {
        // Something that may pass if tried again (kv away, many edges writing one AOR at once):
        // 503 with Retry-After, which phones honour, rather than a 500 they treat as final.
        const retryable = err instanceof SwitchboardError && err.retryable;
        if (retryable) logger.warn({ err, callId: callIdOf(req) }, 'REGISTER not stored; retry');
        else logger.error({ err, callId: callIdOf(req) }, 'REGISTER failed unexpectedly');
        try {
          if (res.finalResponseSent) return;
          if (retryable) res.send(503, 'Try Again', { headers: { 'Retry-After': '1' } });
          else res.send(500, 'Server Internal Error');
        } catch (sendErr) {
          logger.error({ err: sendErr }, 'could not answer 500');
        }
      }
    },
  };
}

function formatSource(address: string, port: number): string {
  return address.includes(':') && !address.startsWith('[')
    ? `[${address}]:${port}`
    : `${address}:${port}`;
}
