import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  assertTopology,
  consumerQueueTopology,
  createBridge,
  createBus,
  defaultBridgeJobOptions,
  deadLetterExchangeOf,
  deadLetterQueueOf,
  jobIdFor,
  type Bridge,
  type Bus,
} from '@switchboard/queue';
import { uniqueName } from '@switchboard/sandbox/testing';
import { connect, type Channel, type ConfirmChannel } from 'amqplib';
import { Queue } from 'bullmq';
import { Better, type BenchSuite } from '../harness.js';
import { opsPerSecond } from '../measure.js';

/** Publishes in flight at once, and the prefetch of every consumer, on every side. */
const CONCURRENCY = 64;
const PAYLOAD_BYTES = 512;

/** The part of rascal's promise API this suite uses (rascal ships no types). */
interface RascalPublication {
  on(event: 'success', listener: (messageId: string) => void): RascalPublication;
  on(event: 'error' | 'return', listener: (error: unknown) => void): RascalPublication;
}
interface RascalBroker {
  publish(name: string, content: Buffer): Promise<RascalPublication>;
  on(event: 'error', listener: (error: unknown) => void): void;
  shutdown(): Promise<void>;
}
interface Rascal {
  BrokerAsPromised: { create(config: unknown): Promise<RascalBroker> };
}
const rascal = createRequire(import.meta.url)('rascal') as Rascal;

function cdr(callId: string) {
  return {
    callId,
    from: 'sip:alice@example.com',
    to: 'sip:bob@example.com',
    direction: 'internal',
    disposition: 'answered',
    start: '2026-01-01T10:00:00.000Z',
    end: '2026-01-01T10:01:00.000Z',
    durationSeconds: 60,
  } as const;
}

/** A `call.ended` envelope, as the bus would publish it. */
function envelope(callId: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      name: 'call.ended',
      id: `bench-${callId}`,
      time: '2026-01-01T10:01:00.000Z',
      source: 'bench',
      payload: { cdr: cdr(callId) },
    }),
  );
}

async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs = 120_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error('bench bus: timed out waiting');
    await sleep(5);
  }
}

/**
 * The bus's hot paths against the clients it wraps: a confirmed persistent publish (bus vs a bare
 * amqplib confirm channel vs rascal), consuming with acks (bus subscription vs a bare amqplib
 * consumer), and the bridge (events → stored BullMQ jobs vs a bare consumer that adds then acks).
 * Every side uses the same quorum queues, message size, concurrency and prefetch.
 */
export const busSuite: BenchSuite = {
  name: 'bus',
  description:
    'AMQP bus (confirmed publish, consume/ack) vs raw amqplib and rascal; bridge vs raw amqplib+bullmq',
  async setup(context) {
    const info = await context.sandbox();
    const url = info.rabbitmq.url;
    const redis = { url: info.redis.url, maxRetriesPerRequest: null };
    const exchange = uniqueName('benchex');
    const sink = uniqueName('benchsink');
    const consumeQueues = { project: uniqueName('benchcp'), raw: uniqueName('benchcr') };
    const bridgeQueues = { project: uniqueName('benchbp'), raw: uniqueName('benchbr') };
    const taskQueues = { project: uniqueName('benchtp'), raw: uniqueName('benchtr') };
    const prefix = uniqueName('benchbull');
    const queues = [sink, ...Object.values(consumeQueues), ...Object.values(bridgeQueues)];

    const connection = await connect(url);
    const admin = await connection.createChannel();
    // The publish target: a quorum queue bound to the events exchange, as in production.
    await assertTopology(
      admin,
      consumerQueueTopology(sink, { exchange, routingKeys: ['call.ended'] }),
    );
    for (const queue of Object.values(consumeQueues)) {
      await assertTopology(admin, consumerQueueTopology(queue, { exchange, routingKeys: [] }));
    }
    const rawPublisher: ConfirmChannel = await connection.createConfirmChannel();
    const payload = Buffer.alloc(PAYLOAD_BYTES, 'x');

    const bus: Bus = createBus({ urls: [url], source: 'bench', exchange, prefetch: CONCURRENCY });
    await bus.start();
    const broker = await rascal.BrokerAsPromised.create({
      vhosts: {
        '/': {
          connection: { url },
          exchanges: { [exchange]: { assert: false, check: true } },
          queues: {},
          publications: {
            bench: {
              exchange,
              routingKey: 'call.ended',
              confirm: true,
              options: { persistent: true, mandatory: true },
            },
          },
        },
      },
    });
    broker.on('error', (error) => {
      context.progress(`rascal: ${String(error)}`);
    });

    const loop = (op: () => Promise<unknown>) => async () => {
      const value = await opsPerSecond(op, {
        durationMs: context.sampleMs,
        concurrency: CONCURRENCY,
      });
      await admin.purgeQueue(sink);
      return value;
    };
    const rawPublish = () =>
      new Promise<void>((resolve, reject) => {
        rawPublisher.publish(
          exchange,
          'call.ended',
          payload,
          { persistent: true, mandatory: true, messageId: 'raw' },
          (err: unknown) => {
            if (err === null || err === undefined) resolve();
            else
              reject(
                err instanceof Error ? err : new Error('publish not confirmed', { cause: err }),
              );
          },
        );
      });
    const rascalPublish = async () => {
      const publication = await broker.publish('bench', payload);
      await new Promise<void>((resolve, reject) => {
        publication.on('success', () => {
          resolve();
        });
        publication.on('error', reject);
        publication.on('return', reject);
      });
    };

    // consume-ack: fill a queue with N envelopes (untimed), then time draining it.
    const perSample = Math.max(2000, Math.round(context.sampleMs * 5));
    const fill = async (queue: string, batch: string) => {
      for (let i = 0; i < perSample; i++) {
        rawPublisher.sendToQueue(queue, envelope(`${batch}-${i}`), { persistent: true });
      }
      await rawPublisher.waitForConfirms();
    };
    let round = 0;
    const consumeProject = async () => {
      await fill(consumeQueues.project, `cp${++round}`);
      let handled = 0;
      const began = performance.now();
      const subscription = await bus.subscribe(
        consumeQueues.project,
        ['call.ended'],
        () => {
          handled++;
        },
        { declare: false, prefetch: CONCURRENCY },
      );
      await waitUntil(() => handled >= perSample);
      const seconds = (performance.now() - began) / 1000;
      await subscription.cancel();
      return perSample / seconds;
    };
    const consumeRaw = async () => {
      await fill(consumeQueues.raw, `cr${++round}`);
      let handled = 0;
      const began = performance.now();
      const channel: Channel = await connection.createChannel();
      await channel.prefetch(CONCURRENCY);
      await channel.consume(consumeQueues.raw, (message) => {
        if (message === null) return;
        JSON.parse(message.content.toString('utf8'));
        channel.ack(message);
        handled++;
      });
      await waitUntil(() => handled >= perSample);
      const seconds = (performance.now() - began) / 1000;
      await channel.close();
      return perSample / seconds;
    };

    // bridge: consumers run all along; a sample publishes N events (same raw publisher on both
    // sides) and ends when N jobs are stored.
    // An exchange of its own, so the publish case does not feed the bridge.
    const bridgeExchange = uniqueName('benchbx');
    const bridgeBus: Bus = createBus({
      urls: [url],
      source: 'bench-bridge',
      exchange: bridgeExchange,
      prefetch: CONCURRENCY,
    });
    await bridgeBus.start();
    const bridge: Bridge = createBridge({
      bus: bridgeBus,
      redisUrl: info.redis.url,
      queue: bridgeQueues.project,
      taskQueue: taskQueues.project,
      prefix,
      publishOutcomes: false,
    });
    await bridge.start();
    const projectTasks = new Queue(taskQueues.project, { connection: redis, prefix });
    const rawTasks = new Queue(taskQueues.raw, { connection: redis, prefix });
    await assertTopology(
      admin,
      consumerQueueTopology(bridgeQueues.raw, { exchange: bridgeExchange, routingKeys: [] }),
    );
    const rawBridgeChannel = await connection.createChannel();
    await rawBridgeChannel.prefetch(CONCURRENCY);
    await rawBridgeChannel.consume(bridgeQueues.raw, (message) => {
      if (message === null) return;
      const event = JSON.parse(message.content.toString('utf8')) as {
        payload: { cdr: ReturnType<typeof cdr> };
      };
      const data = { cdr: event.payload.cdr };
      void rawTasks
        .add('cdr.index', data, {
          ...defaultBridgeJobOptions,
          jobId: jobIdFor('cdr.index', data) ?? '',
        })
        .then(
          () => {
            rawBridgeChannel.ack(message);
          },
          () => {
            rawBridgeChannel.nack(message);
          },
        );
    });
    const bridgeSample = (queue: string, tasks: Queue, tag: string) => async () => {
      const began = performance.now();
      const batch = `${tag}${++round}`;
      for (let i = 0; i < perSample; i++) {
        rawPublisher.sendToQueue(queue, envelope(`${batch}-${i}`), { persistent: true });
      }
      await rawPublisher.waitForConfirms();
      await waitUntil(async () => (await tasks.count()) >= perSample);
      const seconds = (performance.now() - began) / 1000;
      await tasks.drain();
      return perSample / seconds;
    };

    return {
      cases: [
        {
          name: 'publish-confirmed',
          unit: 'msg/s',
          better: Better.Higher,
          sample: loop(() => bus.publish(exchange, 'call.ended', payload)),
          baselines: [
            { name: 'raw-amqplib', goal: 0.9, sample: loop(rawPublish) },
            { name: 'rascal', goal: 1.0, sample: loop(rascalPublish) },
          ],
        },
        {
          name: 'consume-ack',
          unit: 'msg/s',
          better: Better.Higher,
          sample: consumeProject,
          baselines: [{ name: 'raw-amqplib', goal: 0.9, sample: consumeRaw }],
        },
        {
          name: 'bridge',
          unit: 'jobs/s',
          better: Better.Higher,
          sample: bridgeSample(bridgeQueues.project, projectTasks, 'bp'),
          baselines: [
            {
              name: 'raw-amqplib+bullmq',
              sample: bridgeSample(bridgeQueues.raw, rawTasks, 'br'),
            },
          ],
        },
      ],
      async close() {
        await bridge.close();
        await bridgeBus.close();
        await bus.close();
        await broker.shutdown();
        await rawBridgeChannel.close();
        for (const tasks of [projectTasks, rawTasks]) {
          await tasks.obliterate({ force: true });
          await tasks.close();
        }
        for (const queue of queues) {
          await admin.deleteQueue(queue);
          await admin.deleteQueue(deadLetterQueueOf(queue));
          await admin.deleteExchange(deadLetterExchangeOf(queue));
        }
        await admin.deleteExchange(exchange);
        await admin.deleteExchange(bridgeExchange);
        await connection.close();
      },
    };
  },
};
