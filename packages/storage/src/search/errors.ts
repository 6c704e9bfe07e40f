import { SwitchboardError } from '@switchboard/runtime';

/**
 * The short names of search failures. Every search error carries one in `kind`, beside its stable
 * `code`; callers branch on either (or on `retryable`), never on the message.
 */
export const SearchErrorKind = {
  Unavailable: 'Unavailable',
  Throttled: 'Throttled',
  NotFound: 'NotFound',
  Conflict: 'Conflict',
  InvalidRequest: 'InvalidRequest',
  Unauthorized: 'Unauthorized',
  InvalidArgument: 'InvalidArgument',
  InvalidCursor: 'InvalidCursor',
  ReindexFailed: 'ReindexFailed',
  DeadLetterFailed: 'DeadLetterFailed',
  Closed: 'Closed',
  BackendError: 'BackendError',
} as const;
export type SearchErrorKind = (typeof SearchErrorKind)[keyof typeof SearchErrorKind];

export const SearchErrorCode = {
  Unavailable: 'SWB_SEARCH_UNAVAILABLE',
  Throttled: 'SWB_SEARCH_THROTTLED',
  NotFound: 'SWB_SEARCH_NOT_FOUND',
  Conflict: 'SWB_SEARCH_CONFLICT',
  InvalidRequest: 'SWB_SEARCH_INVALID_REQUEST',
  Unauthorized: 'SWB_SEARCH_UNAUTHORIZED',
  InvalidArgument: 'SWB_SEARCH_INVALID_ARGUMENT',
  InvalidCursor: 'SWB_SEARCH_INVALID_CURSOR',
  ReindexFailed: 'SWB_SEARCH_REINDEX_FAILED',
  DeadLetterFailed: 'SWB_SEARCH_DEAD_LETTER_FAILED',
  Closed: 'SWB_SEARCH_CLOSED',
  BackendError: 'SWB_SEARCH_BACKEND',
} as const satisfies Record<SearchErrorKind, string>;
export type SearchErrorCode = (typeof SearchErrorCode)[keyof typeof SearchErrorCode];

const statusOf: Record<SearchErrorKind, number> = {
  Unavailable: 503,
  Throttled: 429,
  NotFound: 404,
  Conflict: 409,
  InvalidRequest: 400,
  Unauthorized: 401,
  InvalidArgument: 400,
  InvalidCursor: 400,
  ReindexFailed: 500,
  DeadLetterFailed: 500,
  Closed: 503,
  BackendError: 502,
};

const retryableKinds: ReadonlySet<SearchErrorKind> = new Set([
  SearchErrorKind.Unavailable,
  SearchErrorKind.Throttled,
]);

interface Options {
  readonly cause?: unknown;
  /** The HTTP status Elasticsearch answered, when it answered. */
  readonly status?: number | undefined;
  /** Elasticsearch's error type, e.g. `index_not_found_exception`. */
  readonly type?: string | undefined;
}

/** The base of every search error: `kind` is the short name, `code` the stable `SWB_SEARCH_*`. */
export class SearchError extends SwitchboardError {
  override name = 'SearchError';
  readonly kind: SearchErrorKind;
  /** The HTTP status Elasticsearch answered, when the error came from a response. */
  readonly status: number | undefined;
  /** Elasticsearch's error type (`index_not_found_exception`, …), when it gave one. */
  readonly type: string | undefined;

  constructor(kind: SearchErrorKind, message: string, options: Options = {}) {
    const { status, type, ...rest } = options;
    super(SearchErrorCode[kind], message, {
      ...rest,
      retryable: retryableKinds.has(kind),
      statusCode: statusOf[kind],
    });
    this.kind = kind;
    this.status = status;
    this.type = type;
  }
}

/** Thrown by `reindex` when more documents failed than `maxFailures` allows; the alias stays. */
export class SearchReindexError extends SearchError {
  override name = 'SearchReindexError';
  /** The new index, left in place for inspection (delete it, or pass it to `dropIndex`). */
  readonly index: string;
  readonly read: number;
  readonly indexed: number;
  readonly failed: number;

  constructor(
    message: string,
    details: { index: string; read: number; indexed: number; failed: number },
    options: Options = {},
  ) {
    super(SearchErrorKind.ReindexFailed, message, options);
    this.index = details.index;
    this.read = details.read;
    this.indexed = details.indexed;
    this.failed = details.failed;
  }
}

/** Whether `err` is a search error, of the given kind if one is named. */
export function isSearchError(err: unknown, kind?: SearchErrorKind): err is SearchError {
  return err instanceof SearchError && (kind === undefined || err.kind === kind);
}

/** The parts of an Elasticsearch client error this module reads (by shape: see `toSearchError`). */
interface ClientErrorShape {
  readonly name: string;
  readonly message: string;
  readonly meta?: { readonly statusCode?: number; readonly body?: unknown } | undefined;
}

function isClientError(err: unknown): err is ClientErrorShape {
  return err instanceof Error;
}

/** Elasticsearch's `{ error: { type, reason } }` body, or a bulk item's `error`. */
export function describeEsError(body: unknown): { type: string | undefined; reason: string } {
  const error = typeof body === 'object' && body !== null && 'error' in body ? body.error : body;
  if (typeof error === 'string') return { type: undefined, reason: error };
  if (typeof error === 'object' && error !== null) {
    const {
      type,
      reason,
      caused_by: causedBy,
    } = error as {
      type?: unknown;
      reason?: unknown;
      caused_by?: unknown;
    };
    const inner =
      typeof causedBy === 'object' && causedBy !== null
        ? (causedBy as { reason?: unknown }).reason
        : undefined;
    const text = [reason, inner].filter((part) => typeof part === 'string').join(': ');
    return { type: typeof type === 'string' ? type : undefined, reason: text };
  }
  return { type: undefined, reason: '' };
}

/** The kind an HTTP status from Elasticsearch maps to. */
export function kindOfStatus(status: number): SearchErrorKind {
  if (status === 429) return SearchErrorKind.Throttled;
  if (status >= 500) return SearchErrorKind.Unavailable;
  if (status === 401 || status === 403) return SearchErrorKind.Unauthorized;
  if (status === 404) return SearchErrorKind.NotFound;
  if (status === 409) return SearchErrorKind.Conflict;
  if (status >= 400) return SearchErrorKind.InvalidRequest;
  return SearchErrorKind.BackendError;
}

/**
 * Maps what the Elasticsearch client threw to a `SearchError`. Errors are recognised by `name`
 * (as the client's own transport does), not `instanceof`: the client ships separate CJS and ESM
 * builds, so a client built by other code may throw classes that are not ours.
 */
export function toSearchError(err: unknown, action: string): SearchError {
  if (err instanceof SearchError) return err;
  if (!isClientError(err)) {
    return new SearchError(SearchErrorKind.BackendError, `${action} failed: ${String(err)}`, {
      cause: err,
    });
  }
  switch (err.name) {
    case 'ConnectionError':
    case 'TimeoutError':
    case 'NoLivingConnectionsError':
      return new SearchError(
        SearchErrorKind.Unavailable,
        `${action} failed: Elasticsearch unreachable (${err.name}: ${err.message})`,
        { cause: err },
      );
    case 'ResponseError': {
      const status = err.meta?.statusCode ?? 0;
      const { type, reason } = describeEsError(err.meta?.body);
      const detail = type === undefined ? reason : `${type}: ${reason}`;
      return new SearchError(
        kindOfStatus(status),
        `${action} failed: HTTP ${status}${detail === '' ? '' : ` ${detail}`}`,
        { cause: err, status, type },
      );
    }
    default:
      return new SearchError(
        SearchErrorKind.BackendError,
        `${action} failed: ${err.name}: ${err.message}`,
        { cause: err },
      );
  }
}
