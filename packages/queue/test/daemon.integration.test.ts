import { createServer } from 'node:net';
import { createLogger, createMetricsRegistry, loadConfig, systemClock } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { Queue } from 'bullmq';
import { afterAll, expect, inject, it } from 'vitest';
import { createQueueDaemon, deadLetterQueueOf, queueConfigSchema } from '../src/index.js';
import { eventually, rawAmqp } from './helpers.js';

const info = inject('sandbox');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const exchange = uniqueName('ex');
const bridgeQueue = uniqueName('bridge');
const taskQueue = uniqueName('tasks');
const prefix = uniqueName('bull');

afterAll(async () => {
  const tasks = new Queue(taskQueue, { connection: { url: info.redis.url }, prefix });
  await tasks.obliterate({ force: true });
  await tasks.close();
  const raw = await rawAmqp(info.rabbitmq.url);
  await raw.deleteQueues(bridgeQueue, deadLetterQueueOf(bridgeQueue));
  await raw.deleteExchanges(exchange, `${bridgeQueue}.dlx`);
  await raw.close();
});

it('starts the bus and the bridge, reports ready over the protocols, and closes cleanly', async () => {
  const port = await freePort();
  const { config } = loadConfig(queueConfigSchema, {
    env: {
      SWB_NODE_ID: 'queue-test',
      SWB_OPS_HOST: '127.0.0.1',
      SWB_OPS_PORT: String(port),
      SWB_AMQP_URLS: info.rabbitmq.url,
      SWB_REDIS_URL: info.redis.url,
      SWB_BUS_EXCHANGE: exchange,
      SWB_BRIDGE_QUEUE: bridgeQueue,
      SWB_BRIDGE_TASK_QUEUE: taskQueue,
      SWB_BRIDGE_PREFIX: prefix,
    },
  });
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const daemon = createQueueDaemon(config, {
    logger: createLogger({ level: 'silent' }),
    registry,
    clock: systemClock,
  });
  await daemon.start();
  try {
    const ready = await eventually(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`)).json() as Promise<{ status: string }>,
      (body) => body.status === 'ready',
    );
    expect(ready).toMatchObject({
      status: 'ready',
      dependencies: [
        { name: 'amqp', ok: true },
        { name: 'redis', ok: true },
      ],
    });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^swb_bus_connected 1$/m);
  } finally {
    await daemon.close();
  }
});
