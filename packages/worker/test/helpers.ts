// Shared pieces of the worker's integration tests: a private world per test file (schema, queue,
// Redis prefix, spool and blob directories) and a way to wait for a job's outcome.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '@switchboard/runtime';
import type { SandboxInfo } from '@switchboard/sandbox';
import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import {
  createBlobStore,
  createSqlRouter,
  migrate,
  type BlobStore,
  type SqlRouter,
} from '@switchboard/storage';
import { Job, Queue } from 'bullmq';
import { workerMigrations } from '../src/index.js';

export interface World {
  readonly schema: TestSchema;
  readonly sql: SqlRouter;
  readonly blob: BlobStore;
  readonly blobRoot: string;
  readonly spoolDir: string;
  readonly queueName: string;
  readonly prefix: string;
  readonly redisUrl: string;
  /** A queue to add jobs with (the producers' side). */
  readonly queue: Queue;
  readonly logger: Logger;
  dispose(): Promise<void>;
}

export const silentLogger: Logger = createLogger({ level: 'silent' });

export async function createWorld(info: SandboxInfo, name = 'wk'): Promise<World> {
  const schema = await createTestSchema(info, name);
  const sql = createSqlRouter({
    primary: schema.primaryUri,
    replicas: schema.replicaUris,
    pool: { connectionLimit: 4, timezone: 'Z', dateStrings: true },
  });
  await migrate(sql, [workerMigrations]);
  const blobRoot = await mkdtemp(join(tmpdir(), 'swb-wk-blob-'));
  const spoolDir = await mkdtemp(join(tmpdir(), 'swb-wk-spool-'));
  const blob = createBlobStore({ driver: 'posix', root: blobRoot });
  const queueName = uniqueName('q');
  const prefix = uniqueName('p');
  const queue = new Queue(queueName, { connection: { url: info.redis.url }, prefix });
  return {
    schema,
    sql,
    blob,
    blobRoot,
    spoolDir,
    queueName,
    prefix,
    redisUrl: info.redis.url,
    queue,
    logger: silentLogger,
    async dispose() {
      await queue.obliterate({ force: true });
      await queue.close();
      await Promise.all([sql.close(), blob.close()]);
      await schema.drop();
      await Promise.all([
        rm(blobRoot, { recursive: true, force: true }),
        rm(spoolDir, { recursive: true, force: true }),
      ]);
    },
  };
}

/** Waits until the job is completed or failed (or `timeoutMs` passes) and returns it. */
export async function settled(queue: Queue, id: string, timeoutMs = 20_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await Job.fromId(queue, id);
    if (job !== undefined) {
      const state = await job.getState();
      // Read again: the first read may predate the state change.
      const final =
        state === 'completed' || state === 'failed' ? await Job.fromId(queue, id) : undefined;
      if (final !== undefined) return final;
    }
    if (Date.now() > deadline) throw new Error(`job ${id} did not settle within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Adds a job and returns its id. */
export async function add(
  queue: Queue,
  name: string,
  data: unknown,
  opts: Parameters<Queue['add']>[2] = {},
): Promise<string> {
  const job = await queue.add(name, data, opts);
  if (job.id === undefined) throw new Error('job without id');
  return job.id;
}

let sequence = 0;

/** A CDR with the given call id. */
export function cdr(callId: string, start = '2026-11-25T10:00:00.000Z') {
  sequence++;
  const startMs = Date.parse(start);
  return {
    callId,
    from: `+1555000${String(sequence % 1000).padStart(4, '0')}`,
    to: '+15559990000',
    direction: 'inbound' as const,
    disposition: 'answered' as const,
    start,
    answer: new Date(startMs + 2000).toISOString(),
    end: new Date(startMs + 62_000).toISOString(),
    durationSeconds: 62,
    billableSeconds: 60,
    pbxNode: 'pbx-1',
  };
}
