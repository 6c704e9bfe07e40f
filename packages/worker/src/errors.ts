import { SwitchboardError } from '@switchboard/runtime';

/** The worker's stable error codes; a docs table lists each with its meaning. */
export const WorkerErrorCode = {
  InvalidPayload: 'SWB_WORKER_INVALID_PAYLOAD',
  UnknownTask: 'SWB_WORKER_UNKNOWN_TASK',
  InvalidTask: 'SWB_WORKER_INVALID_TASK',
  Timeout: 'SWB_WORKER_TIMEOUT',
  SpoolPath: 'SWB_WORKER_SPOOL_PATH',
  SpoolMissing: 'SWB_WORKER_SPOOL_MISSING',
  ChecksumMismatch: 'SWB_WORKER_CHECKSUM_MISMATCH',
  BlobConflict: 'SWB_WORKER_BLOB_CONFLICT',
  SearchDisabled: 'SWB_WORKER_SEARCH_DISABLED',
  IndexRejected: 'SWB_WORKER_INDEX_REJECTED',
  ThreadFailed: 'SWB_WORKER_THREAD_FAILED',
} as const;
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

type Options = { readonly cause?: unknown };

/** The base of every worker error; `task` names the task it happened in, when there was one. */
export class WorkerError extends SwitchboardError {
  override name = 'WorkerError';
  readonly task: string | undefined;

  constructor(
    code: WorkerErrorCode,
    message: string,
    options: Options & { readonly retryable?: boolean; readonly task?: string } = {},
  ) {
    const { task, ...rest } = options;
    super(code, message, rest);
    this.task = task;
  }
}

/** A job's payload does not match its task's schema: the job fails at once, never retried. */
export class WorkerInvalidPayloadError extends WorkerError {
  override name = 'WorkerInvalidPayloadError';
  constructor(task: string, reason: string) {
    super(WorkerErrorCode.InvalidPayload, `invalid payload: ${reason}`, { task });
  }
}

/** A job whose name no registered task has: failed at once. */
export class WorkerUnknownTaskError extends WorkerError {
  override name = 'WorkerUnknownTaskError';
  constructor(task: string) {
    super(WorkerErrorCode.UnknownTask, `no handler for task ${JSON.stringify(task)}`, { task });
  }
}

/** A task definition is wrong (unknown name, defined twice, bad option); found at construction. */
export class WorkerInvalidTaskError extends WorkerError {
  override name = 'WorkerInvalidTaskError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(WorkerErrorCode.InvalidTask, `${field}: ${message}`);
    this.field = field;
  }
}

/** An attempt ran past its task's `timeoutMs`; its signal was aborted. A retry may succeed. */
export class WorkerTimeoutError extends WorkerError {
  override name = 'WorkerTimeoutError';
  readonly timeoutMs: number;
  constructor(task: string, timeoutMs: number) {
    super(WorkerErrorCode.Timeout, `${task} did not finish within ${timeoutMs} ms`, {
      task,
      retryable: true,
    });
    this.timeoutMs = timeoutMs;
  }
}

/** A spool path resolves outside the spool directory (`..`, absolute, or a symlink out). */
export class WorkerSpoolPathError extends WorkerError {
  override name = 'WorkerSpoolPathError';
  constructor(spoolPath: string, reason: string) {
    super(WorkerErrorCode.SpoolPath, `spool path ${JSON.stringify(spoolPath)} ${reason}`, {
      task: 'blob.ingest',
    });
  }
}

/**
 * The spool file is not there and nothing was ingested under its key. Retryable: on NFS a file
 * written by another host may become visible a little later.
 */
export class WorkerSpoolMissingError extends WorkerError {
  override name = 'WorkerSpoolMissingError';
  constructor(spoolPath: string, options: Options = {}) {
    super(WorkerErrorCode.SpoolMissing, `spool file ${JSON.stringify(spoolPath)} does not exist`, {
      ...options,
      task: 'blob.ingest',
      retryable: true,
    });
  }
}

/** The spool file's SHA-256 differs from the one the producer sent; the file is kept. */
export class WorkerChecksumMismatchError extends WorkerError {
  override name = 'WorkerChecksumMismatchError';
  readonly expected: string;
  readonly actual: string;
  constructor(spoolPath: string, expected: string, actual: string) {
    super(
      WorkerErrorCode.ChecksumMismatch,
      `spool file ${JSON.stringify(spoolPath)} has SHA-256 ${actual}, expected ${expected}; kept in the spool`,
      { task: 'blob.ingest' },
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** A different object already exists under the blob key; nothing was overwritten. */
export class WorkerBlobConflictError extends WorkerError {
  override name = 'WorkerBlobConflictError';
  constructor(key: string, stored: string, actual: string) {
    super(
      WorkerErrorCode.BlobConflict,
      `blob ${JSON.stringify(key)} already holds other content (SHA-256 ${stored}, the spool file's is ${actual}); not overwritten`,
      { task: 'blob.ingest' },
    );
  }
}

/** A search task ran on a worker without `search.node`. */
export class WorkerSearchDisabledError extends WorkerError {
  override name = 'WorkerSearchDisabledError';
  constructor(task: string) {
    super(WorkerErrorCode.SearchDisabled, `${task} needs search: set SWB_SEARCH_NODE`, { task });
  }
}

/** Elasticsearch refused a document for good (dead letter); retryable when it was throttled. */
export class WorkerIndexRejectedError extends WorkerError {
  override name = 'WorkerIndexRejectedError';
  constructor(task: string, id: string, reason: string, retryable: boolean) {
    super(WorkerErrorCode.IndexRejected, `search refused ${JSON.stringify(id)}: ${reason}`, {
      task,
      retryable,
    });
  }
}

/** A worker thread running a CPU-heavy step crashed or exited early. */
export class WorkerThreadError extends WorkerError {
  override name = 'WorkerThreadError';
  constructor(message: string, options: Options = {}) {
    super(WorkerErrorCode.ThreadFailed, message, { ...options, retryable: true });
  }
}
