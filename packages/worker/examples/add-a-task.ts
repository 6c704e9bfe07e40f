import { jobIdFor, type TaskPayload } from '@switchboard/queue';
import { createLogger } from '@switchboard/runtime';
import {
  createTaskRegistry,
  createTaskWorker,
  defineTask,
  taskBackoffType,
} from '@switchboard/worker';
import { Queue, QueueEvents } from 'bullmq';

/**
 * A task handler of your own, run by the worker's runtime: here, a `cdr.index` handler that
 * records which tenant each call belongs to. The payload type comes from the task catalogue and
 * is schema-checked before the handler runs; the handler is idempotent (a retry after a crash
 * sets the same entry again), reports progress and honours its abort signal.
 */
export async function addATaskExample(
  redisUrl: string,
  queueName: string,
  prefix: string,
): Promise<Map<string, string>> {
  const tenantOfCall = new Map<string, string>();

  // 1. Define the task: catalogue name, handler, and how it runs.
  const recordTenant = defineTask(
    'cdr.index',
    async ({ cdr }, { progress, signal }) => {
      signal.throwIfAborted();
      tenantOfCall.set(cdr.callId, cdr.tenant ?? 'default'); // keyed by call id: idempotent
      await progress(100);
      return { callId: cdr.callId };
    },
    { concurrency: 4, timeoutMs: 10_000, backoff: { baseDelayMs: 500, maxDelayMs: 60_000 } },
  );

  // 2. Run it: one BullMQ worker for every task in the registry.
  const worker = createTaskWorker({
    redisUrl,
    queueName,
    prefix,
    tasks: createTaskRegistry([recordTenant]),
    logger: createLogger({ level: 'warn' }),
  });
  await worker.start();

  // 3. The producer's side: job name = task name, job id from the catalogue (adding the same
  //    call twice adds one job), retries with the task's backoff.
  const queue = new Queue(queueName, { connection: { url: redisUrl }, prefix });
  const events = new QueueEvents(queueName, { connection: { url: redisUrl }, prefix });
  try {
    await events.waitUntilReady();
    const payload: TaskPayload<'cdr.index'> = {
      cdr: {
        callId: 'a84b4c76e66710@pbx-1',
        from: 'sip:alice@example.com',
        to: 'sip:bob@example.com',
        direction: 'internal',
        disposition: 'answered',
        start: '2026-11-25T10:00:00.000Z',
        end: '2026-11-25T10:01:00.000Z',
        durationSeconds: 60,
        tenant: 'acme',
      },
    };
    const jobId = jobIdFor('cdr.index', payload);
    const job = await queue.add('cdr.index', payload, {
      ...(jobId === undefined ? {} : { jobId }),
      attempts: 5,
      backoff: { type: taskBackoffType },
    });
    await job.waitUntilFinished(events, 10_000);
    return tenantOfCall;
  } finally {
    await worker.close();
    await Promise.all([events.close(), queue.close()]);
  }
}
