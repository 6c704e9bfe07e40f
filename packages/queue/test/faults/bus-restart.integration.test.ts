import { restartRabbitMq } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import { Queue } from 'bullmq';
import { afterAll, expect, inject, it } from 'vitest';
import { createBridge, createBus, deadLetterQueueOf } from '../../src/index.js';
import { cdr, eventually, rawAmqp } from '../helpers.js';

const info = inject('sandbox');
const url = info.rabbitmq.url;
const connection = { url: info.redis.url, maxRetriesPerRequest: null };
const total = 2000;
const inFlight = 64;

const exchange = uniqueName('ex');
const amqpQueue = uniqueName('bridge');
const taskQueue = uniqueName('tasks');
const prefix = uniqueName('bull');
const bus = createBus({
  urls: [url],
  source: 'fault-test',
  exchange,
  reconnectInitialMs: 100,
  reconnectMaxMs: 1000,
});
const bridge = createBridge({
  bus,
  redisUrl: info.redis.url,
  queue: amqpQueue,
  taskQueue,
  prefix,
  publishOutcomes: false,
});
const tasks = new Queue(taskQueue, { connection, prefix });

afterAll(async () => {
  await bridge.close();
  await bus.close();
  await tasks.obliterate({ force: true });
  await tasks.close();
  const raw = await rawAmqp(url);
  await raw.deleteQueues(amqpQueue, deadLetterQueueOf(amqpQueue));
  await raw.deleteExchanges(exchange, `${amqpQueue}.dlx`);
  await raw.close();
});

it('delivers every confirmed call.ended across a RabbitMQ restart, and the bridge makes exactly one job each', async () => {
  await bus.start();
  await bridge.start();
  let disconnects = 0;
  bus.on('disconnected', () => {
    disconnects++;
  });

  let next = 0;
  let confirmed = 0;
  const failures: unknown[] = [];
  const publisher = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      try {
        await bus.publishEvent('call.ended', { cdr: cdr(`fault-${i}`) });
        confirmed++;
      } catch (error) {
        failures.push(error);
      }
    }
  };
  const publishing = Promise.all(Array.from({ length: inFlight }, publisher));
  // Restart once a few hundred are out, while the rest are still being published.
  await eventually(
    () => confirmed,
    (n) => n >= 300,
    30_000,
  );
  await restartRabbitMq(info);
  await publishing;

  expect(failures).toEqual([]);
  expect(confirmed).toBe(total);
  expect(disconnects).toBeGreaterThanOrEqual(1);

  const count = async (): Promise<number> => {
    const counts = await tasks.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  };
  await eventually(count, (n) => n >= total, 60_000);
  // Let any redelivered duplicates arrive: they must add nothing.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(await count()).toBe(total);
  const ids = new Set((await tasks.getJobs(['waiting'], 0, total)).map((job) => job.id));
  expect(ids.size).toBe(total);
  expect(bus.isConnected()).toBe(true);
}, 180_000);
