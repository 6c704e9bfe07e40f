// Flood control shared by every edge: per-source request counters (what Kamailio's pike does)
// and a failed-authentication counter that bans a source for a while. Everything lives in kv,
// so a scanner spraying several edges behind one address is counted once.
import type { Logger } from '@switchboard/runtime';
import type { Kv } from '@switchboard/storage';
import type { FloodControl, FloodVerdict } from './contracts.js';
import { positiveIntegerOption } from './errors.js';

export interface FloodControlOptions {
  readonly kv: Kv;
  /** Length of a request-counting window. Default 2000 ms. */
  readonly windowMs?: number;
  /** Requests a source may send per window; more are `limited`. Default 40. */
  readonly maxRequests?: number;
  /** Failed authentications within `failedAuthWindowMs` that ban a source. Default 5. */
  readonly failedAuthLimit?: number;
  /** Default 60000 ms. */
  readonly failedAuthWindowMs?: number;
  /** How long a ban lasts. Default 300000 ms (5 minutes). */
  readonly banMs?: number;
  readonly logger: Logger;
}

export interface FloodControlHandle extends FloodControl {
  /** Lifts a ban (and forgets the failures) of `source`; true if it was banned. */
  unban(source: string): Promise<boolean>;
  /** The settings in force, defaults applied. */
  readonly limits: {
    readonly windowMs: number;
    readonly maxRequests: number;
    readonly failedAuthLimit: number;
    readonly failedAuthWindowMs: number;
    readonly banMs: number;
  };
}

/** The key of a source: an IPv6 address lowercased, without brackets, so one host is one key. */
export function sourceKey(source: string): string {
  const trimmed = source.trim();
  const unbracketed =
    trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  return unbracketed.toLowerCase();
}

/**
 * Fixed windows (a counter whose TTL starts with its first increment), as pike's sampling
 * windows: cheap, one INCR per request, and a burst straddling two windows may pass up to twice
 * the limit, which is fine for flood control. A ban is a key with the ban's TTL.
 */
export function createFloodControl(options: FloodControlOptions): FloodControlHandle {
  const limits = Object.freeze({
    windowMs: positiveIntegerOption('windowMs', options.windowMs ?? 2000),
    maxRequests: positiveIntegerOption('maxRequests', options.maxRequests ?? 40),
    failedAuthLimit: positiveIntegerOption('failedAuthLimit', options.failedAuthLimit ?? 5),
    failedAuthWindowMs: positiveIntegerOption(
      'failedAuthWindowMs',
      options.failedAuthWindowMs ?? 60_000,
    ),
    banMs: positiveIntegerOption('banMs', options.banMs ?? 300_000),
  });
  const logger = options.logger.child({ component: 'sip-flood' });
  const ns = options.kv.namespace('sip-flood');
  const requests = ns.counters('req', { ttlMs: limits.windowMs });
  const failures = ns.counters('auth', { ttlMs: limits.failedAuthWindowMs });
  const bans = ns.records<{ since: number }>('ban', { ttlMs: limits.banMs });

  return {
    limits,

    async check(source): Promise<FloodVerdict> {
      const key = sourceKey(source);
      // Both in flight at once: one round trip's latency per request. A banned source's
      // requests are counted too, which is harmless.
      const [ban, count] = await Promise.all([bans.get(key), requests.incr(key)]);
      if (ban !== undefined) return 'banned';
      if (count > limits.maxRequests) {
        // Log once per window, not once per request of a flood.
        if (count === limits.maxRequests + 1) {
          logger.warn({ source: key, windowMs: limits.windowMs }, 'source over its request rate');
        }
        return 'limited';
      }
      return 'ok';
    },

    async failedAuth(source) {
      const key = sourceKey(source);
      const count = await failures.incr(key);
      if (count < limits.failedAuthLimit) return;
      // setIfAbsent: a ban is not extended by the failures that keep arriving while it holds
      // (they are not even answered), so it ends banMs after it began.
      const banned = await bans.setIfAbsent(key, { since: Date.now() });
      await failures.delete(key);
      if (banned) {
        logger.warn(
          { source: key, failures: count, banMs: limits.banMs },
          'source banned after failed authentications',
        );
      }
    },

    async unban(source) {
      const key = sourceKey(source);
      const [was] = await Promise.all([bans.delete(key), failures.delete(key)]);
      return was;
    },
  };
}
