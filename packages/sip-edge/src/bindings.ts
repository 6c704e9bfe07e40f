// Registrations: the contacts of each address of record, in kv so every edge (and the call
// router) sees the same bindings. Also the small SIP header parsers the registrar and the
// authenticator share: they never throw, since they read whatever the network sent.
import { systemClock, type Clock } from '@switchboard/runtime';
import type { Kv, KvRecords } from '@switchboard/storage';
import type { Binding, BindingLookup } from './contracts.js';
import {
  SipBindingConflictError,
  SipInvalidArgumentError,
  positiveIntegerOption,
} from './errors.js';

// ---------------------------------------------------------------------------------------------
// Header parsing

/** A name-addr or addr-spec: `"Alice" <sip:alice@example.com>;tag=x` → uri + header params. */
export interface NameAddr {
  readonly uri: string;
  /** Header parameters (after the `>`, or after the addr-spec), names lowercased; `null` when valueless. */
  readonly params: ReadonlyMap<string, string | null>;
}

/**
 * Splits a header value at the commas that separate its elements (drachtio-srf joins repeated
 * headers with `,`), skipping commas inside quoted strings and `<…>`. Undefined if a quote or an
 * angle bracket is left open.
 */
export function splitHeaderList(value: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<' && !angle) angle = true;
    else if (c === '>' && angle) angle = false;
    else if (c === ',' && !angle) {
      parts.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (quoted || angle) return undefined;
  parts.push(value.slice(start).trim());
  return parts;
}

const paramPattern = /^\s*;\s*([\w\-.!%*+`'~]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;,"]+))?/;

function parseParams(text: string): Map<string, string | null> | undefined {
  const params = new Map<string, string | null>();
  let rest = text;
  while (rest.trim() !== '') {
    const match = paramPattern.exec(rest);
    if (match === null) return undefined;
    const name = (match[1] ?? '').toLowerCase();
    const raw = match[2];
    params.set(
      name,
      raw === undefined
        ? null
        : raw.startsWith('"')
          ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
          : raw,
    );
    rest = rest.slice(match[0].length);
  }
  return params;
}

/** Parses one name-addr / addr-spec; undefined when it is not one. */
export function parseNameAddr(text: string): NameAddr | undefined {
  const value = text.trim();
  if (value === '') return undefined;
  const open = value.indexOf('<');
  if (open >= 0) {
    const display = value.slice(0, open).trim();
    if (
      display !== '' &&
      !/^(?:"(?:[^"\\]|\\.)*"|[\w\-.!%*+`'~]+(?:\s+[\w\-.!%*+`'~]+)*)$/.test(display)
    ) {
      return undefined;
    }
    const close = value.indexOf('>', open);
    if (close < 0) return undefined;
    const uri = value.slice(open + 1, close).trim();
    const params = parseParams(value.slice(close + 1));
    if (uri === '' || /\s/.test(uri) || params === undefined) return undefined;
    return { uri, params };
  }
  // addr-spec: parameters after the URI belong to the header (RFC 3261 §20).
  const semicolon = value.indexOf(';');
  const uri = semicolon < 0 ? value : value.slice(0, semicolon);
  const params =
    semicolon < 0 ? new Map<string, string | null>() : parseParams(value.slice(semicolon));
  if (uri === '' || /[\s<>"]/.test(uri) || params === undefined) return undefined;
  return { uri, params };
}

/** The user and host of a `sip:`/`sips:` URI; undefined for anything else. */
export interface SipUriParts {
  readonly scheme: 'sip' | 'sips';
  readonly user: string | undefined;
  /** Lowercased; IPv6 in brackets. */
  readonly host: string;
  readonly port: number | undefined;
}

export function parseSipUri(uri: string): SipUriParts | undefined {
  const match =
    /^(sips?):(?:([^@;?:\s]+)(?::[^@;?\s]*)?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:[;?][^\s]*)?$/i.exec(
      uri.trim(),
    );
  if (match === null) return undefined;
  const port = match[4] === undefined ? undefined : Number(match[4]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  let user: string | undefined;
  try {
    user = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
  } catch {
    return undefined;
  }
  return {
    scheme: (match[1] ?? 'sip').toLowerCase() as 'sip' | 'sips',
    user,
    host: (match[3] ?? '').toLowerCase(),
    port,
  };
}

/** An address of record from a To/From header value: `sip:user@domain`, canonical. */
export interface Aor {
  readonly aor: string;
  readonly user: string;
  readonly domain: string;
}

/**
 * The AOR of a To (or From) header: scheme `sip:` (a `sips:` AOR is the same user), the user
 * part as sent (SIP user parts are case-sensitive), the host lowercased, port and parameters
 * dropped, so every spelling of one AOR is one kv key.
 */
export function aorOf(header: string | undefined): Aor | undefined {
  if (header === undefined) return undefined;
  const nameAddr = parseNameAddr(header);
  if (nameAddr === undefined) return undefined;
  const uri = parseSipUri(nameAddr.uri);
  if (uri?.user === undefined || uri.user === '') return undefined;
  return { aor: `sip:${uri.user}@${uri.host}`, user: uri.user, domain: uri.host };
}

// ---------------------------------------------------------------------------------------------
// Expiry rules

export interface ExpiryLimits {
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
}

/**
 * A contact's expiry in seconds (RFC 3261 §10.3 step 7): its `expires` parameter, else the
 * Expires header, else the default; above `maxExpires` it is cut to it; 0 means remove.
 * `too-brief` (423) when below `minExpires` and not 0, `invalid` when not a delta-seconds.
 */
export function contactExpires(
  param: string | null | undefined,
  header: string | undefined,
  limits: ExpiryLimits,
): number | 'too-brief' | 'invalid' {
  const raw = param === undefined ? header : param;
  let seconds: number;
  if (raw === undefined) seconds = limits.defaultExpires;
  else if (raw === null || !/^\s*\d{1,10}\s*$/.test(raw)) return 'invalid';
  else seconds = Number(raw);
  if (seconds === 0) return 0;
  if (seconds < limits.minExpires) return 'too-brief';
  return Math.min(seconds, limits.maxExpires);
}

/** A q-value (`0`…`1`, up to three decimals); undefined when absent, NaN when malformed. */
export function parseQ(param: string | null | undefined): number | undefined {
  if (param === undefined) return undefined;
  if (param === null || !/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(param)) return Number.NaN;
  return Number(param);
}

// ---------------------------------------------------------------------------------------------
// The store

/** A binding as stored: the contract's, plus the transport it came over. */
export interface StoredBinding extends Binding {
  readonly transport?: string;
}

interface AorRecord {
  readonly bindings: StoredBinding[];
}

/** One contact of a REGISTER, its expiry already resolved (`contactExpires`). */
export interface ContactChange {
  readonly uri: string;
  /** Seconds; 0 removes the binding. */
  readonly expires: number;
  /** Default 1. */
  readonly q?: number;
}

export interface RegisterChange {
  readonly callId: string;
  readonly cseq: number;
  /** `address:port` the REGISTER came from. */
  readonly source: string;
  readonly transport?: string;
  readonly userAgent?: string;
  readonly contacts: readonly ContactChange[];
}

export type RegisterOutcome =
  | { readonly ok: true; readonly contacts: Binding[] }
  /**
   * `out-of-order`: a binding was last refreshed by the same Call-ID with a CSeq at least this
   * one's (a delayed or replayed REGISTER); nothing changed (RFC 3261 §10.3 steps 6–7: 500).
   * `too-many-contacts`: the AOR would hold more than `maxContacts`; nothing changed.
   */
  | { readonly ok: false; readonly reason: 'out-of-order' | 'too-many-contacts' };

export interface BindingStore extends BindingLookup {
  readonly limits: ExpiryLimits & { readonly maxContacts: number };
  /** Applies a REGISTER's contacts atomically (compare-and-set across edges). */
  register(aor: string, change: RegisterChange): Promise<RegisterOutcome>;
  /**
   * Removes every binding (`Contact: *`). With `ordering`, the Call-ID/CSeq rule applies: a
   * binding from the same Call-ID with a CSeq ≥ the request's aborts the whole removal.
   */
  removeAll(
    aor: string,
    ordering?: { readonly callId: string; readonly cseq: number },
  ): Promise<RegisterOutcome>;
}

export interface BindingStoreOptions {
  readonly kv: Kv;
  /** Seconds; shorter non-zero expiries get 423. Default 60. */
  readonly minExpires?: number;
  /** Seconds; longer expiries are cut to it. Default 3600. */
  readonly maxExpires?: number;
  /** Seconds, when neither the contact nor the request says. Default 3600. */
  readonly defaultExpires?: number;
  /** Contacts one AOR may hold. Default 10. */
  readonly maxContacts?: number;
  /** Compare-and-set attempts before giving up (the kv error reaches the caller). Default 16. */
  readonly casAttempts?: number;
  readonly clock?: Clock;
}

/** Highest q first; equal q keeps registration order (Array#sort is stable). */
function byQ(a: Binding, b: Binding): number {
  return b.q - a.q;
}

export function createBindingStore(options: BindingStoreOptions): BindingStore {
  const minExpires = positiveIntegerOption('minExpires', options.minExpires ?? 60);
  const maxExpires = positiveIntegerOption('maxExpires', options.maxExpires ?? 3600);
  const defaultExpires = positiveIntegerOption('defaultExpires', options.defaultExpires ?? 3600);
  const maxContacts = positiveIntegerOption('maxContacts', options.maxContacts ?? 10);
  const casAttempts = positiveIntegerOption('casAttempts', options.casAttempts ?? 16);
  if (minExpires > maxExpires) {
    throw new SipInvalidArgumentError('minExpires', `must be ≤ maxExpires (${maxExpires})`);
  }
  if (defaultExpires < minExpires || defaultExpires > maxExpires) {
    throw new SipInvalidArgumentError('defaultExpires', 'must be within minExpires…maxExpires');
  }
  const limits = Object.freeze({ minExpires, maxExpires, defaultExpires, maxContacts });
  const clock = options.clock ?? systemClock;
  // No TTL on the collection: each write sets the record's own (its longest-lived contact).
  const records: KvRecords<AorRecord> = options.kv.namespace('sip').records('aor');

  function live(record: AorRecord | undefined, now: number): StoredBinding[] {
    if (record === undefined || !Array.isArray(record.bindings)) return [];
    return record.bindings.filter((b) => b.expiresAt > now);
  }

  /**
   * Read, compute, compare-and-set, again while another edge wrote in between. Not kv's
   * `update()`: the record's TTL depends on the value computed, and `update` takes it up front.
   */
  async function change(
    aor: string,
    fn: (
      bindings: StoredBinding[],
      now: number,
    ) => StoredBinding[] | 'out-of-order' | 'too-many-contacts',
  ): Promise<RegisterOutcome> {
    for (let attempt = 1; ; attempt++) {
      const current = await records.get(aor);
      const now = clock.now();
      const next = fn(live(current, now), now);
      if (typeof next === 'string') return { ok: false, reason: next };
      const longest = next.reduce((max, b) => Math.max(max, b.expiresAt), 0);
      const written =
        next.length === 0
          ? current === undefined || (await records.compareAndSet(aor, current, undefined))
          : await records.compareAndSet(
              aor,
              current,
              { bindings: next },
              // A second of grace so a read at the very end still finds (and filters) it.
              { ttlMs: Math.max(1, longest - now) + 1000 },
            );
      if (written) return { ok: true, contacts: [...next].sort(byQ) };
      if (attempt >= casAttempts) {
        throw new SipBindingConflictError(aor, attempt);
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.random() * Math.min(100, 5 * attempt)),
      );
    }
  }

  return {
    limits,

    async contacts(aor) {
      const record = await records.get(aor);
      return live(record, clock.now()).sort(byQ);
    },

    register(aor, request) {
      return change(aor, (bindings, now) => {
        const next = [...bindings];
        for (const contact of request.contacts) {
          const index = next.findIndex((b) => b.contact === contact.uri);
          const existing = index < 0 ? undefined : next[index];
          if (
            existing !== undefined &&
            existing.callId === request.callId &&
            request.cseq <= existing.cseq
          ) {
            return 'out-of-order';
          }
          if (contact.expires === 0) {
            if (index >= 0) next.splice(index, 1);
            continue;
          }
          const binding: StoredBinding = {
            contact: contact.uri,
            q: contact.q ?? 1,
            expiresAt: now + Math.min(contact.expires, maxExpires) * 1000,
            callId: request.callId,
            cseq: request.cseq,
            source: request.source,
            ...(request.transport === undefined ? {} : { transport: request.transport }),
            ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
          };
          if (index >= 0) next[index] = binding;
          else next.push(binding);
        }
        return next.length > maxContacts ? 'too-many-contacts' : next;
      });
    },

    removeAll(aor, ordering) {
      return change(aor, (bindings) => {
        if (
          ordering !== undefined &&
          bindings.some((b) => b.callId === ordering.callId && ordering.cseq <= b.cseq)
        ) {
          return 'out-of-order';
        }
        return [];
      });
    },
  };
}
