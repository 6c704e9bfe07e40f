import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createTaskRegistry,
  createTaskWorker,
  defineTask,
  runInThread,
  taskBackoffType,
  type AnyTaskDefinition,
  type TaskSchedule,
  type TaskWorker,
} from '../src/index.js';
import { add, createWorld, settled, silentLogger, type World } from './helpers.js';

const info = inject('sandbox');
const burn = new URL('./fixtures/burn.mjs', import.meta.url);
let world: World;
const workers: TaskWorker[] = [];

async function start(
  tasks: readonly AnyTaskDefinition[],
  options: {
    concurrency?: number;
    lockDurationMs?: number;
    stalledIntervalMs?: number;
    schedules?: readonly TaskSchedule[];
  } = {},
): Promise<TaskWorker> {
  const worker = createTaskWorker({
    redisUrl: world.redisUrl,
    queueName: world.queueName,
    prefix: world.prefix,
    tasks: createTaskRegistry(tasks),
    logger: silentLogger,
    deferMs: 100,
    ...options,
  });
  workers.push(worker);
  await worker.start();
  return worker;
}

beforeAll(async () => {
  world = await createWorld(info, 'wkrun');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  await world.queue.obliterate({ force: true });
});

afterAll(async () => {
  await world.dispose();
});

describe('the task runner', () => {
  it('aborts an attempt at its timeout, then retries it after a jittered exponential backoff', async () => {
    const signals: AbortSignal[] = [];
    await start([
      defineTask(
        'search.reindex',
        async (_payload, context) => {
          signals.push(context.signal);
          await sleep(10_000, undefined, { signal: context.signal });
        },
        { timeoutMs: 200, backoff: { baseDelayMs: 400, maxDelayMs: 10_000 } },
      ),
    ]);
    const id = await add(
      world.queue,
      'search.reindex',
      { type: 'cdr' },
      { attempts: 2, backoff: { type: taskBackoffType } },
    );
    const job = await settled(world.queue, id);
    expect(job.failedReason).toMatch(/^search.reindex did not finish within 200 ms/);
    expect(job.attemptsMade).toBe(2);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
    // Two 200 ms attempts and a backoff drawn from [200, 400) ms between them.
    expect((job.finishedOn ?? 0) - job.timestamp).toBeGreaterThanOrEqual(600);
  });

  it('runs at most `concurrency` jobs of a task at once, putting the others back', async () => {
    let running = 0;
    let peak = 0;
    await start(
      [
        defineTask(
          'retention.purge',
          async () => {
            running++;
            peak = Math.max(peak, running);
            await sleep(150);
            running--;
          },
          { concurrency: 1 },
        ),
        defineTask('cdr.index', () => Promise.resolve('indexed'), { concurrency: 4 }),
      ],
      { concurrency: 4 },
    );
    const purges = await Promise.all([1, 2, 3].map(() => add(world.queue, 'retention.purge', {})));
    const index = await add(world.queue, 'cdr.index', {
      cdr: {
        callId: 'c',
        from: 'a',
        to: 'b',
        direction: 'inbound',
        disposition: 'busy',
        start: '2026-11-25T10:00:00.000Z',
        end: '2026-11-25T10:00:01.000Z',
        durationSeconds: 1,
      },
    });
    for (const id of purges) expect((await settled(world.queue, id)).finishedOn).toBeGreaterThan(0);
    expect((await settled(world.queue, index)).returnvalue).toBe('indexed');
    expect(peak).toBe(1);
    for (const id of purges) {
      expect((await settled(world.queue, id)).attemptsMade).toBe(1);
    }
  });

  it('keeps the job lock while a CPU-heavy step burns in a worker thread', async () => {
    const stalled: string[] = [];
    const lockTtls: number[] = [];
    const redis = new Redis(world.redisUrl);
    try {
      const worker = await start(
        [
          defineTask('retention.purge', async (_payload, context) => {
            await context.progress(10);
            // 3.5 s of CPU, with a lock that expires after 1 s unless renewed.
            return runInThread(burn, { ms: 3500 }, { signal: context.signal });
          }),
        ],
        { lockDurationMs: 1000, stalledIntervalMs: 1000 },
      );
      worker.worker?.on('stalled', (jobId) => stalled.push(jobId));
      const id = await add(world.queue, 'retention.purge', {});
      // Sample the lock's TTL while the thread burns: renewed, it never runs out.
      const lockKey = `${world.prefix}:${world.queueName}:${id}:lock`;
      for (let i = 0; i < 12; i++) {
        await sleep(250);
        lockTtls.push(await redis.pttl(lockKey));
      }
      const job = await settled(world.queue, id);
      expect(job.failedReason).toBeUndefined();
      expect(job.returnvalue).toMatchObject({ ms: 3500 });
      expect(job.attemptsStarted).toBe(1);
      expect(job.stalledCounter).toBe(0);
      expect(stalled).toEqual([]);
      // Every sample saw a live lock (a TTL of -2 would mean the key expired).
      expect(lockTtls.every((ttl) => ttl > 0)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('upserts its schedules, so a repeatable job exists after start', async () => {
    await start([defineTask('retention.purge', () => Promise.resolve({ purged: 0 }))], {
      schedules: [
        {
          id: 'retention.purge',
          task: 'retention.purge',
          payload: { batchSize: 10 },
          everyMs: 3_600_000,
        },
      ],
    });
    const scheduler = await world.queue.getJobScheduler('retention.purge');
    expect(scheduler).toMatchObject({ name: 'retention.purge', every: 3_600_000 });
    expect(scheduler?.template?.data).toEqual({ batchSize: 10 });
    // A second worker upserting the same schedule leaves one scheduler.
    await start([defineTask('retention.purge', () => Promise.resolve({ purged: 0 }))], {
      schedules: [
        { id: 'retention.purge', task: 'retention.purge', payload: {}, everyMs: 3_600_000 },
      ],
    });
    expect(await world.queue.getJobSchedulersCount()).toBe(1);
  });

  it('on close, stops taking jobs and lets the active one finish', async () => {
    let finished = false;
    let runs = 0;
    const worker = await start([
      defineTask('retention.purge', async (_payload, context) => {
        runs++;
        await context.progress(50);
        await sleep(500);
        finished = true;
        return 'done';
      }),
    ]);
    const first = await add(world.queue, 'retention.purge', {});
    while ((await world.queue.getActiveCount()) === 0) await sleep(20);
    const second = await add(world.queue, 'retention.purge', {});
    await worker.close();
    expect(finished).toBe(true);
    expect((await settled(world.queue, first)).returnvalue).toBe('done');
    // Not run: still queued (waiting, or delayed if it met the busy purge slot) for another worker.
    expect(['waiting', 'delayed']).toContain(await (await world.queue.getJob(second))?.getState());
    expect(runs).toBe(1);
  });
});
