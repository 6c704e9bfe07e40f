import { performance } from 'node:perf_hooks';
import type { TaskPayload } from '@switchboard/queue';
import { createLogger } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { createTaskRegistry, createTaskWorker, defineTask } from '@switchboard/worker';
import { Queue, Worker } from 'bullmq';
import { Better, type BenchSuite } from '../harness.js';

const CONCURRENCY = 16;
const BULK = 1000;

const payload: TaskPayload<'cdr.index'> = {
  cdr: {
    callId: 'bench-call',
    from: 'sip:alice@example.com',
    to: 'sip:bob@example.com',
    direction: 'internal',
    disposition: 'answered',
    start: '2026-11-25T10:00:00.000Z',
    end: '2026-11-25T10:01:00.000Z',
    durationSeconds: 60,
  },
};

/** Something that processes the queue's jobs until it is closed. */
interface Consumer {
  close(): Promise<void>;
}

/**
 * The worker runtime's overhead per job: the same jobs (a valid `cdr.index` payload, so the
 * schema check runs) drained by a no-op handler through the task registry and runner
 * (`noop-jobs`) and by a bare BullMQ Worker with a no-op processor (`raw-bullmq`), both at the
 * same concurrency. Each sample fills a fresh queue with `addBulk` first (not timed), then times
 * from the first job processed to the last.
 */
export const workerSuite: BenchSuite = {
  name: 'worker',
  description: 'Task runner (registry, schema check, slots, timeout) vs a bare BullMQ Worker',
  async setup(context) {
    const info = await context.sandbox();
    const connection = { url: info.redis.url };
    const logger = createLogger({ level: 'silent' });
    // Sized so a side takes about sampleMs at a few thousand jobs a second.
    const jobs = Math.max(1000, Math.round(context.sampleMs * 3));
    const prefix = uniqueName('benchwk');
    const queues: Queue[] = [];

    async function filledQueue(): Promise<Queue> {
      const queue = new Queue(uniqueName('q'), { connection, prefix });
      queues.push(queue);
      for (let added = 0; added < jobs; added += BULK) {
        const count = Math.min(BULK, jobs - added);
        await queue.addBulk(
          Array.from({ length: count }, () => ({
            name: 'cdr.index',
            data: payload,
            opts: { removeOnComplete: true },
          })),
        );
      }
      return queue;
    }

    /** Fills a queue, starts a consumer whose handler calls `tick`, and measures jobs/s. */
    async function sample(start: (queue: string, tick: () => void) => Promise<Consumer>) {
      const queue = await filledQueue();
      let done = 0;
      let first = 0;
      let finish: (elapsedMs: number) => void = () => undefined;
      const finished = new Promise<number>((resolve) => {
        finish = resolve;
      });
      const tick = (): void => {
        done++;
        if (done === 1) first = performance.now();
        if (done === jobs) finish(performance.now() - first);
      };
      const consumer = await start(queue.name, tick);
      try {
        const elapsedMs = await finished;
        return ((jobs - 1) * 1000) / elapsedMs;
      } finally {
        await consumer.close();
        await queue.obliterate({ force: true });
        await queue.close();
        queues.splice(queues.indexOf(queue), 1);
      }
    }

    return {
      cases: [
        {
          name: 'noop-jobs',
          unit: 'jobs/s',
          better: Better.Higher,
          sample: () =>
            sample(async (queueName, tick) => {
              const worker = createTaskWorker({
                redisUrl: info.redis.url,
                queueName,
                prefix,
                tasks: createTaskRegistry([
                  defineTask(
                    'cdr.index',
                    () => {
                      tick();
                      return Promise.resolve();
                    },
                    { concurrency: CONCURRENCY },
                  ),
                ]),
                concurrency: CONCURRENCY,
                logger,
              });
              await worker.start();
              return worker;
            }),
          baselines: [
            {
              name: 'raw-bullmq',
              goal: 0.9,
              sample: () =>
                sample(async (queueName, tick) => {
                  const worker = new Worker(
                    queueName,
                    () => {
                      tick();
                      return Promise.resolve();
                    },
                    {
                      connection: { ...connection, maxRetriesPerRequest: null },
                      prefix,
                      concurrency: CONCURRENCY,
                    },
                  );
                  await worker.waitUntilReady();
                  return worker;
                }),
            },
          ],
        },
      ],
      async close() {
        for (const queue of queues.splice(0)) {
          await queue.obliterate({ force: true });
          await queue.close();
        }
      },
    };
  },
};
