import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cdr, TaskPayload } from '@switchboard/queue';
import type { Clock, Logger } from '@switchboard/runtime';
import {
  isBlobError,
  type BlobInfo,
  type BlobStore,
  type CdrDocument,
  type DeadLetter,
  type Search,
  type SearchIndexer,
  type SqlRouter,
} from '@switchboard/storage';
import {
  WorkerBlobConflictError,
  WorkerChecksumMismatchError,
  WorkerIndexRejectedError,
  WorkerSearchDisabledError,
  WorkerSpoolMissingError,
} from './errors.js';
import {
  defineTask,
  type AnyTaskDefinition,
  type TaskContext,
  type TaskOptions,
} from './registry.js';
import { checkSpoolFile, resolveSpoolPath } from './spool.js';
import {
  blobKeyFromSql,
  cdrFromRow,
  cdrValues,
  selectCdrColumns,
  sqlDateTime,
  upsertCdrSql,
} from './sql.js';
import { sha256File } from './threads.js';

/** What the platform's tasks use; the daemon builds it from its config. */
export interface PlatformTaskDeps {
  readonly sql: SqlRouter;
  readonly blob: BlobStore;
  /** Absent when `search.node` is unset: CDRs go to SQL only, `search.reindex` fails. */
  readonly search: Search | undefined;
  readonly spoolDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Files this big or bigger are hashed in a worker thread (default 8 MiB). */
  readonly checksumThreadAboveBytes?: number;
  /** Rows per page when `search.reindex` reads the `cdr` table (default 1000). */
  readonly reindexPageSize?: number;
  /** Batch size of `retention.purge` when the job does not say (default 500). */
  readonly purgeBatchSize?: number;
  /** Tests only: a pause after each durable step of cdr.index and blob.ingest. */
  readonly stepDelayMs?: number;
}

/** Options of each platform task (concurrency, timeout, backoff), by task name. */
export type PlatformTaskOptions = Partial<Record<AnyTaskDefinition['name'], TaskOptions>>;

const MiB = 1024 * 1024;

async function pause(ms: number | undefined, signal: AbortSignal): Promise<void> {
  if (ms !== undefined && ms > 0) await sleep(ms, undefined, { signal });
}

type Row = Readonly<Record<string, unknown>>;

/** The rows of a SELECT, typed as what they are: column values of unknown type. */
function rowsOf(result: readonly [unknown, unknown]): readonly Row[] {
  return result[0] as readonly Row[];
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOENT';
}

async function headOrUndefined(blob: BlobStore, key: string): Promise<BlobInfo | undefined> {
  try {
    return await blob.head(key);
  } catch (error) {
    if (isBlobError(error, 'NotFound')) return undefined;
    throw error;
  }
}

/**
 * `cdr.index`: upsert the CDR's row by call id (running twice leaves one row), then index it
 * (document id = call id, so indexing twice leaves one document) when search is configured.
 */
function cdrIndexTask(deps: PlatformTaskDeps, options: TaskOptions | undefined) {
  const rejected = new Map<string, DeadLetter<CdrDocument>>();
  let indexer: SearchIndexer<CdrDocument> | undefined;

  async function index(search: Search, cdr: Cdr): Promise<void> {
    indexer ??= search.indexer('cdr', {
      onDeadLetter: (letter) => {
        rejected.set(letter.id, letter);
      },
    });
    rejected.delete(cdr.callId);
    await indexer.add(cdr);
    // Resolves once every document added before it is indexed or dead-lettered.
    await indexer.flush();
    const letter = rejected.get(cdr.callId);
    if (letter !== undefined) {
      rejected.delete(cdr.callId);
      const transient =
        letter.status === undefined || letter.status === 429 || letter.status >= 500;
      throw new WorkerIndexRejectedError('cdr.index', cdr.callId, letter.reason, transient);
    }
  }

  return defineTask(
    'cdr.index',
    async ({ cdr }, context) => {
      await deps.sql.write(upsertCdrSql, cdrValues(cdr));
      await context.progress(50);
      await pause(deps.stepDelayMs, context.signal);
      if (deps.search === undefined) {
        await context.progress(100);
        return { callId: cdr.callId, stored: true, indexed: false };
      }
      await index(deps.search, cdr);
      await context.progress(100);
      return { callId: cdr.callId, stored: true, indexed: true };
    },
    { concurrency: 16, timeoutMs: 60_000, ...options },
  );
}

interface Digest {
  readonly sha256: string;
  readonly size: number;
}

/**
 * `blob.ingest`: spool file → blob (checksum verified) → metadata row → spool file deleted. Each
 * step can be repeated after a crash: the blob is created only if absent (an existing one must
 * hold the same bytes), the row is inserted only if absent, and a missing spool file whose blob
 * and row are both there means an earlier attempt finished.
 */
function blobIngestTask(deps: PlatformTaskDeps, options: TaskOptions | undefined) {
  const threadAboveBytes = deps.checksumThreadAboveBytes ?? 8 * MiB;

  async function storeBlob(
    payload: TaskPayload<'blob.ingest'>,
    path: string,
    digest: Digest,
    signal: AbortSignal,
  ): Promise<boolean> {
    const existing = await headOrUndefined(deps.blob, payload.blobKey);
    if (existing !== undefined) {
      if (existing.sha256 === digest.sha256) return false;
      throw new WorkerBlobConflictError(
        payload.blobKey,
        existing.sha256 ?? 'unknown',
        digest.sha256,
      );
    }
    try {
      await deps.blob.put(payload.blobKey, createReadStream(path), {
        ifNoneMatch: '*',
        // Verified again while streaming: bytes changed since hashing store nothing.
        sha256: digest.sha256,
        ...(payload.contentType === undefined ? {} : { contentType: payload.contentType }),
        metadata: { kind: payload.kind },
        signal,
      });
      return true;
    } catch (error) {
      if (!isBlobError(error, 'PreconditionFailed')) throw error;
      // Another attempt created it meanwhile: fine if it holds the same bytes.
      const raced = await deps.blob.head(payload.blobKey);
      if (raced.sha256 === digest.sha256) return false;
      throw new WorkerBlobConflictError(payload.blobKey, raced.sha256 ?? 'unknown', digest.sha256);
    }
  }

  async function recordRow(
    payload: TaskPayload<'blob.ingest'>,
    digest: Digest,
    contentType: string | undefined,
  ): Promise<void> {
    const created = deps.clock.now();
    const expires =
      payload.retentionDays === undefined
        ? null
        : sqlDateTime(created + payload.retentionDays * 86_400_000);
    // The first attempt's row wins (its created_at and expires_at); a retry inserts nothing.
    await deps.sql.write(
      `INSERT INTO blob_object (blob_key, size, sha256, kind, call_id, content_type, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE blob_key = blob_key`,
      [
        payload.blobKey,
        digest.size,
        digest.sha256,
        payload.kind,
        payload.callId ?? null,
        contentType ?? null,
        sqlDateTime(created),
        expires,
      ],
    );
  }

  /** When the spool file is gone: did an earlier attempt finish everything? */
  async function finishedBefore(payload: TaskPayload<'blob.ingest'>): Promise<Digest | undefined> {
    const rows = rowsOf(
      await deps.sql.write('SELECT size, sha256 FROM blob_object WHERE blob_key = ?', [
        payload.blobKey,
      ]),
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const info = await headOrUndefined(deps.blob, payload.blobKey);
    if (info?.sha256 !== String(row.sha256)) return undefined;
    return { sha256: info.sha256, size: Number(row.size) };
  }

  return defineTask(
    'blob.ingest',
    async (payload, context) => {
      resolveSpoolPath(deps.spoolDir, payload.spoolPath);
      let path: string;
      try {
        path = await checkSpoolFile(deps.spoolDir, payload.spoolPath);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        const done = await finishedBefore(payload);
        if (done === undefined)
          throw new WorkerSpoolMissingError(payload.spoolPath, { cause: error });
        context.logger.info({ key: payload.blobKey }, 'already ingested by an earlier attempt');
        await context.progress(100);
        return { key: payload.blobKey, ...done, stored: false };
      }
      const { size } = await stat(path);
      const digest = await sha256File(path, { size, threadAboveBytes, signal: context.signal });
      if (payload.sha256 !== undefined && payload.sha256 !== digest.sha256) {
        throw new WorkerChecksumMismatchError(payload.spoolPath, payload.sha256, digest.sha256);
      }
      await context.progress(25);

      const stored = await storeBlob(payload, path, digest, context.signal);
      await context.progress(60);
      await pause(deps.stepDelayMs, context.signal);

      await recordRow(payload, digest, payload.contentType);
      await context.progress(85);
      await pause(deps.stepDelayMs, context.signal);

      // Blob and row are durable: only now may the spool copy go.
      try {
        await unlink(path);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      await context.progress(100);
      return { key: payload.blobKey, ...digest, stored };
    },
    { concurrency: 4, timeoutMs: 30 * 60_000, ...options },
  );
}

/**
 * `retention.purge`: in batches, the rows whose `expires_at` passed; each batch deletes the
 * blobs first (idempotent: a blob already gone is done), then the rows. A crash in between
 * leaves rows whose blobs are gone, which the next run deletes.
 */
function retentionPurgeTask(deps: PlatformTaskDeps, options: TaskOptions | undefined) {
  return defineTask(
    'retention.purge',
    async (payload, context) => {
      const before = sqlDateTime(payload.before ?? deps.clock.now());
      const batchSize = payload.batchSize ?? deps.purgeBatchSize ?? 500;
      let purged = 0;
      for (;;) {
        context.signal.throwIfAborted();
        // The primary: a replica behind would hand back rows already purged.
        const rows = rowsOf(
          await deps.sql.write(
            'SELECT blob_key FROM blob_object WHERE expires_at < ? ORDER BY expires_at, blob_key LIMIT ?',
            [before, batchSize],
          ),
        );
        if (rows.length === 0) break;
        const keys = rows.map((row) => blobKeyFromSql(row.blob_key));
        try {
          await deps.blob.deleteMany(keys);
        } catch (error) {
          if (!isBlobError(error, 'NotFound')) throw error;
        }
        await deps.sql.write('DELETE FROM blob_object WHERE blob_key IN (?) AND expires_at < ?', [
          keys,
          before,
        ]);
        purged += keys.length;
        await context.progress({ purged });
        if (rows.length < batchSize) break;
      }
      context.logger.info({ purged, before }, 'retention purge done');
      return { purged };
    },
    { concurrency: 1, timeoutMs: 60 * 60_000, ...options },
  );
}

/**
 * `search.reindex`: streams the `cdr` table from a replica in call-id order (keyset pages, so
 * each page is an index seek however far in) into a new index version, then swaps the alias.
 */
function searchReindexTask(deps: PlatformTaskDeps, options: TaskOptions | undefined) {
  const pageSize = deps.reindexPageSize ?? 1000;

  async function* rows(since: string | undefined, context: TaskContext): AsyncGenerator<Cdr> {
    let after = '';
    for (;;) {
      context.signal.throwIfAborted();
      const page = rowsOf(
        await deps.sql.read(
          `SELECT ${selectCdrColumns} FROM cdr WHERE call_id > ?${
            since === undefined ? '' : ' AND start_time >= ?'
          } ORDER BY call_id LIMIT ?`,
          since === undefined ? [after, pageSize] : [after, sqlDateTime(since), pageSize],
        ),
      );
      for (const row of page) yield cdrFromRow(row);
      const last = page.at(-1);
      if (page.length < pageSize || last === undefined) return;
      after = String(last.call_id);
    }
  }

  return defineTask(
    'search.reindex',
    async (payload, context) => {
      if (deps.search === undefined) throw new WorkerSearchDisabledError('search.reindex');
      const failures: string[] = [];
      const result = await deps.search.reindex(payload.type, rows(payload.since, context), {
        onDeadLetter: (letter) => {
          failures.push(`${letter.id}: ${letter.reason}`);
        },
        onProgress: (progress) => {
          context.progress({ ...progress }).catch((error: unknown) => {
            context.logger.warn({ err: error }, 'cannot report progress');
          });
        },
      });
      context.logger.info({ ...result }, 'reindexed; alias swapped');
      return { ...result, failures };
    },
    { concurrency: 1, timeoutMs: 6 * 60 * 60_000, ...options },
  );
}

/** The platform's four tasks, ready for `createTaskRegistry`. */
export function platformTasks(
  deps: PlatformTaskDeps,
  options: PlatformTaskOptions = {},
): AnyTaskDefinition[] {
  return [
    cdrIndexTask(deps, options['cdr.index']),
    blobIngestTask(deps, options['blob.ingest']),
    retentionPurgeTask(deps, options['retention.purge']),
    searchReindexTask(deps, options['search.reindex']),
  ];
}
