import { SwitchboardError } from '@switchboard/runtime';

/**
 * The short names the blob API documents (the vocabulary). Every blob error carries one
 * in `kind`, beside its stable `code`; callers branch on either, never on the message.
 */
export const BlobErrorKind = {
  NotFound: 'NotFound',
  PreconditionFailed: 'PreconditionFailed',
  InvalidKey: 'InvalidKey',
  InvalidArgument: 'InvalidArgument',
  ChecksumMismatch: 'ChecksumMismatch',
  BackendUnavailable: 'BackendUnavailable',
  Unsupported: 'Unsupported',
  Corrupt: 'Corrupt',
  BackendError: 'BackendError',
} as const;
export type BlobErrorKind = (typeof BlobErrorKind)[keyof typeof BlobErrorKind];

export const BlobErrorCode = {
  NotFound: 'SWB_BLOB_NOT_FOUND',
  PreconditionFailed: 'SWB_BLOB_PRECONDITION_FAILED',
  InvalidKey: 'SWB_BLOB_INVALID_KEY',
  InvalidArgument: 'SWB_BLOB_INVALID_ARGUMENT',
  ChecksumMismatch: 'SWB_BLOB_CHECKSUM_MISMATCH',
  BackendUnavailable: 'SWB_BLOB_UNAVAILABLE',
  Unsupported: 'SWB_BLOB_UNSUPPORTED',
  Corrupt: 'SWB_BLOB_CORRUPT',
  BackendError: 'SWB_BLOB_BACKEND',
} as const satisfies Record<BlobErrorKind, string>;

const statusOf: Record<BlobErrorKind, number> = {
  NotFound: 404,
  PreconditionFailed: 412,
  InvalidKey: 400,
  InvalidArgument: 400,
  ChecksumMismatch: 422,
  BackendUnavailable: 503,
  Unsupported: 501,
  Corrupt: 500,
  BackendError: 502,
};

/** The base of every blob error: `kind` is the short name, `code` the stable `SWB_BLOB_*` code. */
export class BlobError extends SwitchboardError {
  override name = 'BlobError';
  readonly kind: BlobErrorKind;
  /** The key the operation was about, when there was one. */
  readonly key: string | undefined;

  constructor(
    kind: BlobErrorKind,
    message: string,
    options: { readonly cause?: unknown; readonly key?: string; readonly retryable?: boolean } = {},
  ) {
    const { key, ...rest } = options;
    super(BlobErrorCode[kind], message, {
      ...rest,
      retryable: options.retryable ?? kind === BlobErrorKind.BackendUnavailable,
      statusCode: statusOf[kind],
    });
    this.kind = kind;
    this.key = key;
  }
}

type Options = { readonly cause?: unknown; readonly key?: string };

export class BlobNotFoundError extends BlobError {
  override name = 'BlobNotFoundError';
  constructor(key: string, options: Options = {}) {
    super(BlobErrorKind.NotFound, `blob not found: ${JSON.stringify(key)}`, { ...options, key });
  }
}

export class BlobPreconditionFailedError extends BlobError {
  override name = 'BlobPreconditionFailedError';
  constructor(key: string, message = `blob already exists: ${JSON.stringify(key)}`) {
    super(BlobErrorKind.PreconditionFailed, message, { key });
  }
}

export class BlobInvalidKeyError extends BlobError {
  override name = 'BlobInvalidKeyError';
  /** Why the key was refused, e.g. `has a ".." segment`. */
  readonly reason: string;
  constructor(key: unknown, reason: string) {
    const shown = typeof key === 'string' ? JSON.stringify(key.slice(0, 200)) : typeof key;
    super(
      BlobErrorKind.InvalidKey,
      `invalid blob key ${shown}: ${reason}`,
      typeof key === 'string' ? { key } : {},
    );
    this.reason = reason;
  }
}

export class BlobInvalidArgumentError extends BlobError {
  override name = 'BlobInvalidArgumentError';
  constructor(message: string, options: Options = {}) {
    super(BlobErrorKind.InvalidArgument, message, options);
  }
}

export class BlobChecksumMismatchError extends BlobError {
  override name = 'BlobChecksumMismatchError';
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  constructor(key: string, expected: string | undefined, actual: string | undefined) {
    super(
      BlobErrorKind.ChecksumMismatch,
      expected === undefined
        ? `blob ${JSON.stringify(key)} has no stored checksum to verify against`
        : `checksum mismatch on ${JSON.stringify(key)}: expected sha256 ${expected}, got ${actual ?? 'none'}`,
      { key },
    );
    this.expected = expected;
    this.actual = actual;
  }
}

export class BlobUnavailableError extends BlobError {
  override name = 'BlobUnavailableError';
  constructor(message: string, options: Options = {}) {
    super(BlobErrorKind.BackendUnavailable, message, { ...options, retryable: true });
  }
}

export class BlobUnsupportedError extends BlobError {
  override name = 'BlobUnsupportedError';
  constructor(message: string) {
    super(BlobErrorKind.Unsupported, message);
  }
}

export class BlobCorruptError extends BlobError {
  override name = 'BlobCorruptError';
  constructor(key: string, reason: string) {
    super(BlobErrorKind.Corrupt, `blob ${JSON.stringify(key)} is corrupt: ${reason}`, { key });
  }
}

/** Whether `err` is a blob error of the given kind: `isBlobError(err, 'NotFound')`. */
export function isBlobError(err: unknown, kind?: BlobErrorKind): err is BlobError {
  return err instanceof BlobError && (kind === undefined || err.kind === kind);
}
