import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './schema.js';

export type { Logger } from 'pino';

/**
 * Keys whose values never reach a log line, at any of the first `maskDepth` levels of a logged
 * object (`{ password }`, `{ db: { password } }`, `{ req: { headers: { authorization } } }`).
 * Compared case-insensitively.
 */
export const defaultSecretKeys: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'secretaccesskey',
  'token',
  'accesstoken',
  'refreshtoken',
  'apikey',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
];

const censor = '[redacted]';
const maskDepth = 4;

export interface LoggerOptions {
  /** Default `info`. */
  readonly level?: LogLevel;
  /** The `name` field on every line, e.g. the role. */
  readonly name?: string;
  /** Fields on every line, e.g. `{ role, nodeId }`; replaces pino's `pid`/`hostname`. */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Where lines go; default stdout. Tests pass a stream that captures them. */
  readonly destination?: DestinationStream;
  /** Extra keys to mask, added to `defaultSecretKeys`. */
  readonly secretKeys?: readonly string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Returns `value` itself when it holds no secret key (the common case, so a log call allocates
 * nothing more), or a copy with those keys masked. Only plain objects are walked: class
 * instances serialize themselves (`Secret` prints as `[redacted]`).
 */
function mask(
  value: Record<string, unknown>,
  keys: ReadonlySet<string>,
  depth: number,
): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const inner = value[key];
    let next = inner;
    if (keys.has(key.toLowerCase())) next = censor;
    else if (depth > 1 && isPlainObject(inner)) next = mask(inner, keys, depth - 1);
    if (next !== inner) {
      copy ??= { ...value };
      copy[key] = next;
    }
  }
  return copy ?? value;
}

/**
 * A pino logger with Switchboard's defaults: secret keys masked (see `defaultSecretKeys`),
 * errors under `err` through pino's standard serializer (with causes), epoch-millisecond
 * timestamps (pino's cheapest; `pino-pretty` renders them for people). Context goes in
 * children: `logger.child({ jobId })`.
 *
 * Child bindings are masked at their top level only (`child({ token })`); context deeper in a
 * binding is ours to keep secret-free, or to wrap in `Secret`.
 *
 * Masking is one pass over the logged object's keys rather than pino's path-based `redact`:
 * the wildcard paths needed to catch a nested `password` made every line three times slower
 * in the `runtime` bench.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const keys = new Set(
    [...defaultSecretKeys, ...(options.secretKeys ?? [])].map((k) => k.toLowerCase()),
  );
  const settings = {
    level: options.level ?? 'info',
    ...(options.name === undefined ? {} : { name: options.name }),
    base: options.base === undefined ? {} : mask({ ...options.base }, keys, maskDepth),
    serializers: {
      // pino applies serializers to child bindings too, which `formatters.log` never sees:
      // this masks a secret key given straight to `child()`.
      ...Object.fromEntries([...keys].map((key) => [key, () => censor])),
      err: pino.stdSerializers.err,
      error: pino.stdSerializers.err,
    },
    formatters: {
      log: (object: Record<string, unknown>) => mask(object, keys, maskDepth),
    },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}
