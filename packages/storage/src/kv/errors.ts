import { SwitchboardError, transientNetworkCodes } from '@switchboard/runtime';

/**
 * The short names of kv failures. Every kv error carries one in `kind`, beside its stable
 * `code`; callers branch on either, never on the message.
 */
export const KvErrorKind = {
  Unavailable: 'Unavailable',
  Timeout: 'Timeout',
  Serialize: 'Serialize',
  Deserialize: 'Deserialize',
  WrongType: 'WrongType',
  CrossSlot: 'CrossSlot',
  Conflict: 'Conflict',
  InvalidArgument: 'InvalidArgument',
  Closed: 'Closed',
  Backend: 'Backend',
} as const;
export type KvErrorKind = (typeof KvErrorKind)[keyof typeof KvErrorKind];

export const KvErrorCode = {
  Unavailable: 'SWB_KV_UNAVAILABLE',
  Timeout: 'SWB_KV_TIMEOUT',
  Serialize: 'SWB_KV_SERIALIZE',
  Deserialize: 'SWB_KV_DESERIALIZE',
  WrongType: 'SWB_KV_WRONG_TYPE',
  CrossSlot: 'SWB_KV_CROSS_SLOT',
  Conflict: 'SWB_KV_CONFLICT',
  InvalidArgument: 'SWB_KV_INVALID_ARGUMENT',
  Closed: 'SWB_KV_CLOSED',
  Backend: 'SWB_KV_BACKEND',
} as const satisfies Record<KvErrorKind, string>;
export type KvErrorCode = (typeof KvErrorCode)[keyof typeof KvErrorCode];

const statusOf: Record<KvErrorKind, number> = {
  Unavailable: 503,
  Timeout: 504,
  Serialize: 400,
  Deserialize: 500,
  WrongType: 409,
  CrossSlot: 400,
  Conflict: 409,
  InvalidArgument: 400,
  Closed: 503,
  Backend: 502,
};

// Whether the same call may succeed later. A timeout is retryable, but the write may have
// happened: only idempotent calls (get, set, delete, CAS) should be retried blindly.
const retryableKinds: ReadonlySet<KvErrorKind> = new Set([
  KvErrorKind.Unavailable,
  KvErrorKind.Timeout,
  KvErrorKind.Conflict,
]);

/** The base of every kv error: `kind` is the short name, `code` the stable `SWB_KV_*` code. */
export class KvError extends SwitchboardError {
  override name = 'KvError';
  readonly kind: KvErrorKind;
  /** The full Redis key the operation was about, when there was one. */
  readonly key: string | undefined;

  constructor(
    kind: KvErrorKind,
    message: string,
    options: { readonly cause?: unknown; readonly key?: string | undefined } = {},
  ) {
    super(KvErrorCode[kind], message, {
      ...('cause' in options ? { cause: options.cause } : {}),
      retryable: retryableKinds.has(kind),
      statusCode: statusOf[kind],
    });
    this.kind = kind;
    this.key = options.key;
  }
}

const quote = (key: string): string => JSON.stringify(key);

/** A value could not be written: JSON.stringify failed or the schema refused it. */
export class KvSerializeError extends KvError {
  override name = 'KvSerializeError';
  readonly reason: string;
  constructor(key: string, reason: string, cause?: unknown) {
    super(KvErrorKind.Serialize, `cannot store ${quote(key)}: ${reason}`, {
      key,
      ...(cause === undefined ? {} : { cause }),
    });
    this.reason = reason;
  }
}

/**
 * A stored value could not be read back: not JSON, or not what the schema says. The value stays
 * untouched in Redis, so nothing is lost; fix the writer or delete the key.
 */
export class KvDeserializeError extends KvError {
  override name = 'KvDeserializeError';
  readonly reason: string;
  constructor(key: string, reason: string, cause?: unknown) {
    super(KvErrorKind.Deserialize, `cannot read ${quote(key)}: ${reason}`, {
      key,
      ...(cause === undefined ? {} : { cause }),
    });
    this.reason = reason;
  }
}

export class KvInvalidArgumentError extends KvError {
  override name = 'KvInvalidArgumentError';
  constructor(message: string, key?: string) {
    super(KvErrorKind.InvalidArgument, message, { key });
  }
}

/** The keys of one atomic multi-key operation do not share a hash slot. */
export class KvCrossSlotError extends KvError {
  override name = 'KvCrossSlotError';
  constructor(keys: readonly string[], cause?: unknown) {
    super(
      KvErrorKind.CrossSlot,
      `keys ${keys
        .slice(0, 3)
        .map(quote)
        .join(
          ', ',
        )}${keys.length > 3 ? ', …' : ''} are in different hash slots: use a namespace with { colocate: true }`,
      { key: keys[0], ...(cause === undefined ? {} : { cause }) },
    );
  }
}

/** `update` lost the compare-and-set race every time it tried. */
export class KvConflictError extends KvError {
  override name = 'KvConflictError';
  constructor(key: string, attempts: number) {
    super(
      KvErrorKind.Conflict,
      `${quote(key)} changed under every one of ${attempts} compare-and-set attempts`,
      { key },
    );
  }
}

export class KvClosedError extends KvError {
  override name = 'KvClosedError';
  constructor(cause?: unknown) {
    super(KvErrorKind.Closed, 'the kv client is closed', cause === undefined ? {} : { cause });
  }
}

/** Whether `err` is a kv error, of the given kind when one is named: `isKvError(err, 'Conflict')`. */
export function isKvError(err: unknown, kind?: KvErrorKind): err is KvError {
  return err instanceof KvError && (kind === undefined || err.kind === kind);
}

// Replies and client messages that mean "not now": a failover, a resharding, a restart, a lost
// connection. The first word of a Redis error reply is its code.
const unavailableReplies: ReadonlySet<string> = new Set([
  'CLUSTERDOWN',
  'TRYAGAIN',
  'LOADING',
  'MASTERDOWN',
  'READONLY',
  'BUSY',
  'NOREPLICAS',
]);

const unavailableMessages = [
  'Connection is closed',
  'Too many Cluster redirections',
  'Failed to refresh slots cache',
  'None of startup nodes is available',
  "Cluster isn't ready",
  "Stream isn't writeable",
  'Reached the max retries per request limit',
  'connect ETIMEDOUT',
];

/** Which kind a client or server error belongs to (pure; unit-tested). */
export function classifyRedisError(err: unknown): KvErrorKind {
  if (!(err instanceof Error)) return KvErrorKind.Backend;
  if (err instanceof KvError) return err.kind;
  const name = err.name;
  if (name === 'MaxRetriesPerRequestError' || name === 'ClusterAllFailedError') {
    return KvErrorKind.Unavailable;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && transientNetworkCodes.has(code)) return KvErrorKind.Unavailable;
  const message = err.message;
  if (message === 'Command timed out') return KvErrorKind.Timeout;
  const space = message.indexOf(' ');
  const word = space === -1 ? message : message.slice(0, space);
  if (unavailableReplies.has(word)) return KvErrorKind.Unavailable;
  if (word === 'WRONGTYPE') return KvErrorKind.WrongType;
  if (word === 'CROSSSLOT') return KvErrorKind.CrossSlot;
  if (message.startsWith('ERR value is not an integer')) return KvErrorKind.WrongType;
  for (const known of unavailableMessages) {
    if (message.includes(known)) return KvErrorKind.Unavailable;
  }
  return KvErrorKind.Backend;
}

/**
 * Wraps a client or server error in the kv error of its kind, naming the key. After `close()`
 * every failure is `SWB_KV_CLOSED`, not a retryable "connection closed".
 */
export function toKvError(err: unknown, key: string | undefined, closed: boolean): KvError {
  if (err instanceof KvError) return err;
  if (closed) return new KvClosedError(err);
  const kind = classifyRedisError(err);
  const reason = err instanceof Error ? err.message : String(err);
  const on = key === undefined ? '' : ` on ${quote(key)}`;
  switch (kind) {
    case KvErrorKind.Unavailable:
      return new KvError(kind, `Redis unavailable${on}: ${reason}`, { key, cause: err });
    case KvErrorKind.Timeout:
      return new KvError(kind, `Redis did not answer in time${on}: ${reason}`, {
        key,
        cause: err,
      });
    case KvErrorKind.WrongType:
      return new KvError(
        kind,
        `${key === undefined ? 'a key' : quote(key)} holds another type: ${reason}`,
        {
          key,
          cause: err,
        },
      );
    case KvErrorKind.CrossSlot:
      return new KvCrossSlotError(key === undefined ? [] : [key], err);
    case KvErrorKind.Serialize:
    case KvErrorKind.Deserialize:
    case KvErrorKind.Conflict:
    case KvErrorKind.InvalidArgument:
    case KvErrorKind.Closed:
    case KvErrorKind.Backend:
      return new KvError(KvErrorKind.Backend, `Redis error${on}: ${reason}`, { key, cause: err });
  }
}
