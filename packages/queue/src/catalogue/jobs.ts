import { Type, type Static, type TSchema } from '@switchboard/runtime';
import { CdrSchema, eventSchemas } from './events.js';

/**
 * The platform's background tasks: the BullMQ jobs the bridge and the controller add and the
 * worker runs. Each task has a payload schema, checked when the job is added and again when the
 * worker takes it (a payload that fails goes straight to failed with the reason), and a job-id
 * rule that makes adding the same work twice a no-op.
 */
export const jobSchemas = {
  /** Insert the CDR through the SQL router (idempotently) and index it for search. Job id: the call id. */
  'cdr.index': Type.Object({ cdr: CdrSchema }, { additionalProperties: false }),
  /**
   * Move a spool file into blob storage with a verified checksum, record its metadata row, then
   * delete the spool file. Job id: the blob key.
   */
  'blob.ingest': eventSchemas['recording.ready'],
  /** Delete blobs and rows past their retention, in batches (a repeatable job). */
  'retention.purge': Type.Object(
    {
      /** Rows and blobs per batch. */
      batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      /** Purge what expired before this instant instead of now (ISO 8601). */
      before: Type.Optional(Type.String({ format: 'date-time' })),
    },
    { additionalProperties: false },
  ),
  /** Rebuild the search index of a document type from SQL rows read through a replica. */
  'search.reindex': Type.Object(
    {
      type: Type.Literal('cdr'),
      /** Only rows from this instant on (ISO 8601); all rows when absent. */
      since: Type.Optional(Type.String({ format: 'date-time' })),
    },
    { additionalProperties: false },
  ),
} satisfies Record<string, TSchema>;

export type TaskName = keyof typeof jobSchemas;
export type TaskPayload<T extends TaskName> = Static<(typeof jobSchemas)[T]>;
export const taskNames = Object.freeze(Object.keys(jobSchemas)) as readonly TaskName[];

export function isTaskName(name: string): name is TaskName {
  return Object.hasOwn(jobSchemas, name);
}

/** The BullMQ queue every platform task goes to unless configured otherwise. */
export const defaultTaskQueue = 'switchboard-tasks';

/**
 * The BullMQ backoff type of platform tasks. Producers add jobs with
 * `{ attempts, backoff: { type: taskBackoffType } }`; the worker's backoff strategy then computes
 * each retry's delay from the task's own backoff options (exponential, jittered).
 */
export const taskBackoffType = 'switchboard';

/**
 * The BullMQ job id of a task's payload, where the task has a natural key: adding the same work
 * twice (a redelivered event, a retried publish) then finds the job already there and adds
 * nothing. BullMQ refuses `:` in custom ids, so the key is URI-encoded.
 */
export function jobIdFor<T extends TaskName>(task: T, payload: TaskPayload<T>): string | undefined {
  switch (task) {
    case 'cdr.index':
      return `cdr.index-${encodeURIComponent((payload as TaskPayload<'cdr.index'>).cdr.callId)}`;
    case 'blob.ingest':
      return `blob.ingest-${encodeURIComponent((payload as TaskPayload<'blob.ingest'>).blobKey)}`;
    case 'retention.purge':
    case 'search.reindex':
      return undefined;
  }
}
