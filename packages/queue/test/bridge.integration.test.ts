import { uniqueName } from '@switchboard/sandbox/testing';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, beforeAll, afterAll, describe, expect, inject, it } from 'vitest';
import {
  createBridge,
  createBus,
  deadLetterQueueOf,
  jobIdFor,
  type Bridge,
  type Bus,
  type EventEnvelope,
} from '../src/index.js';
import { cdr, eventually, rawAmqp, type RawAmqp } from './helpers.js';

const info = inject('sandbox');
const url = info.rabbitmq.url;
const connection = { url: info.redis.url, maxRetriesPerRequest: null };

let raw: RawAmqp;
beforeAll(async () => {
  raw = await rawAmqp(url);
});
afterAll(async () => {
  await raw.close();
});

interface Rig {
  readonly bus: Bus;
  readonly bridge: Bridge;
  readonly tasks: Queue;
  readonly exchange: string;
  readonly amqpQueue: string;
  readonly taskQueue: string;
  readonly prefix: string;
}

const teardown: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of teardown.splice(0).reverse()) await step();
});

/** A bus, a bridge and a BullMQ queue of their own: own exchange, AMQP queue, prefix. */
async function rig(): Promise<Rig> {
  const exchange = uniqueName('ex');
  const amqpQueue = uniqueName('bridge');
  const taskQueue = uniqueName('tasks');
  const prefix = uniqueName('bull');
  const bus = createBus({ urls: [url], source: 'test', exchange });
  const bridge = createBridge({
    bus,
    redisUrl: info.redis.url,
    queue: amqpQueue,
    taskQueue,
    prefix,
  });
  const tasks = new Queue(taskQueue, { connection, prefix });
  teardown.push(async () => {
    await bridge.close();
    await bus.close();
    await tasks.obliterate({ force: true });
    await tasks.close();
    await raw.deleteQueues(amqpQueue, deadLetterQueueOf(amqpQueue));
    await raw.deleteExchanges(exchange, `${amqpQueue}.dlx`);
  });
  await bus.start();
  await bridge.start();
  return { bus, bridge, tasks, exchange, amqpQueue, taskQueue, prefix };
}

describe('bridge', () => {
  it('turns call.ended into exactly one cdr.index job, even when the event comes twice', async () => {
    const { bus, tasks, amqpQueue } = await rig();
    const record = cdr('call-7@edge-1');
    await bus.publishEvent('call.ended', { cdr: record });
    await bus.publishEvent('call.ended', { cdr: record });
    const jobId = jobIdFor('cdr.index', { cdr: record }) ?? '';
    const job = await eventually(
      () => tasks.getJob(jobId),
      (j) => j !== undefined,
    );
    expect(job?.name).toBe('cdr.index');
    expect(job?.data).toEqual({ cdr: record });
    expect(job?.opts.attempts).toBe(5);
    // Both deliveries are acked (the queue empties) and still one job exists.
    await eventually(
      async () => (await raw.channel.checkQueue(amqpQueue)).messageCount,
      (n) => n === 0,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const counts = await tasks.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('turns recording.ready into a blob.ingest job keyed by the blob key', async () => {
    const { bus, tasks } = await rig();
    const payload = {
      spoolPath: 'rec/2026/call-9.wav',
      blobKey: 'recordings/call-9.wav',
      kind: 'recording' as const,
    };
    await bus.publishEvent('recording.ready', payload);
    const job = await eventually(
      () => tasks.getJob(jobIdFor('blob.ingest', payload) ?? ''),
      (j) => j !== undefined,
    );
    expect(job?.name).toBe('blob.ingest');
    expect(job?.data).toEqual(payload);
  });

  it('publishes job.completed and, only when final, job.failed', async () => {
    const { bus, taskQueue, prefix, amqpQueue } = await rig();
    const outcomes: EventEnvelope<'job.completed' | 'job.failed'>[] = [];
    const listen = `${amqpQueue}-outcomes`;
    teardown.push(() =>
      raw
        .deleteQueues(listen, deadLetterQueueOf(listen))
        .then(() => raw.deleteExchanges(`${listen}.dlx`)),
    );
    await bus.subscribe(listen, ['job.completed', 'job.failed'], (event) => {
      outcomes.push(event);
    });
    const worker = new Worker(
      taskQueue,
      (job) => {
        if (job.name === 'blob.ingest') {
          return Promise.reject(new UnrecoverableError('spool file missing'));
        }
        return Promise.resolve('ok');
      },
      { connection, prefix },
    );
    teardown.push(() => worker.close());
    await bus.publishEvent('call.ended', { cdr: cdr('done-1') });
    await bus.publishEvent('recording.ready', {
      spoolPath: 'gone.wav',
      blobKey: 'recordings/gone.wav',
      kind: 'voicemail',
    });
    await eventually(
      () => outcomes.length,
      (n) => n >= 2,
      15_000,
    );
    const completed = outcomes.find((e) => e.name === 'job.completed');
    const failed = outcomes.find((e) => e.name === 'job.failed');
    expect(completed?.payload).toMatchObject({
      task: 'cdr.index',
      jobId: 'cdr.index-done-1',
      queue: taskQueue,
    });
    expect(failed?.payload).toMatchObject({
      task: 'blob.ingest',
      reason: 'spool file missing',
      jobId: jobIdFor('blob.ingest', {
        spoolPath: 'x',
        blobKey: 'recordings/gone.wav',
        kind: 'voicemail',
      }),
    });
  });
});
