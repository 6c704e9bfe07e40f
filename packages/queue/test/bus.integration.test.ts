import { uniqueName } from '@switchboard/sandbox/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BusErrorCode,
  createBus,
  deadLetterQueueOf,
  type Bus,
  type BusOptions,
  type EventEnvelope,
} from '../src/index.js';
import { cdr, closeConnectionsNamed, eventually, rawAmqp, type RawAmqp } from './helpers.js';

const info = inject('sandbox');
const url = info.rabbitmq.url;

let raw: RawAmqp;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  raw = await rawAmqp(url);
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  await raw.close();
});

/** A bus on an exchange of its own, closed (and its queues deleted) after the file. */
function isolatedBus(options: Partial<BusOptions> = {}): { bus: Bus; exchange: string } {
  const exchange = options.exchange ?? uniqueName('ex');
  const bus = createBus({ urls: [url], source: 'test', exchange, ...options });
  cleanup.push(async () => {
    await bus.close();
    await raw.deleteExchanges(exchange);
  });
  return { bus, exchange };
}

function forgetQueue(queue: string): void {
  cleanup.push(() =>
    raw
      .deleteQueues(queue, deadLetterQueueOf(queue))
      .then(() => raw.deleteExchanges(`${queue}.dlx`)),
  );
}

describe('bus: publishing', () => {
  it('resolves a publish only once the broker confirmed it, and the consumer gets the envelope', async () => {
    const { bus } = isolatedBus();
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    const received: EventEnvelope<'call.ended'>[] = [];
    await bus.subscribe(queue, ['call.ended'], (event) => {
      received.push(event);
    });
    const envelope = await bus.publishEvent('call.ended', { cdr: cdr('c-1') });
    expect(envelope.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(envelope.source).toBe('test');
    await eventually(
      () => received.length,
      (n) => n === 1,
    );
    expect(received[0]?.id).toBe(envelope.id);
    expect(received[0]?.payload.cdr.callId).toBe('c-1');
  });

  it('rejects an unroutable publish with SWB_BUS_UNROUTABLE instead of reporting success', async () => {
    const { bus } = isolatedBus();
    await bus.start();
    await expect(
      bus.publishEvent('node.down', { nodeId: 'n1', reason: 'drained' }),
    ).rejects.toMatchObject({
      code: BusErrorCode.Unroutable,
      retryable: false,
    });
  });

  it('refuses a payload that fails its schema with SWB_BUS_INVALID_EVENT and sends nothing', async () => {
    const { bus } = isolatedBus();
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    let calls = 0;
    await bus.subscribe(queue, ['call.ended'], () => {
      calls++;
    });
    await expect(bus.publishEvent('call.ended', { cdr: { callId: 42 } })).rejects.toMatchObject({
      code: BusErrorCode.InvalidEvent,
    });
    await bus.publishEvent('call.ended', { cdr: cdr('after') });
    await eventually(
      () => calls,
      (n) => n === 1,
    );
  });

  it('buffers publishes until connected, and refuses with SWB_BUS_BUFFER_FULL past the bound', async () => {
    const { bus } = isolatedBus({ buffer: { maxMessages: 2 } });
    const queue = uniqueName('q');
    forgetQueue(queue);
    const first = bus.publishEvent('call.ended', { cdr: cdr('b-1') });
    const second = bus.publishEvent('call.ended', { cdr: cdr('b-2') });
    expect(bus.buffered).toBe(2);
    await expect(bus.publishEvent('call.ended', { cdr: cdr('b-3') })).rejects.toMatchObject({
      code: BusErrorCode.BufferFull,
      retryable: true,
    });
    const received: string[] = [];
    await bus.subscribe(queue, ['call.ended'], (event) => {
      received.push(event.payload.cdr.callId);
    });
    await bus.start();
    await Promise.all([first, second]);
    await eventually(
      () => received.length,
      (n) => n === 2,
    );
    expect(received).toEqual(['b-1', 'b-2']);
  });

  it('holds publishes while the connection is down and sends them after the reconnect', async () => {
    const name = uniqueName('conn');
    const { bus } = isolatedBus({
      connectionName: name,
      reconnectInitialMs: 1500,
      reconnectMaxMs: 1500,
    });
    const queue = uniqueName('q');
    forgetQueue(queue);
    const received = new Set<string>();
    await bus.subscribe(queue, ['call.ended'], (event) => {
      received.add(event.payload.cdr.callId);
    });
    await bus.start();
    const disconnected = new Promise<void>((resolve) => {
      bus.on('disconnected', () => {
        resolve();
      });
    });
    const reconnected = new Promise<void>((resolve) => {
      bus.on('connected', () => {
        resolve();
      });
    });
    expect(await closeConnectionsNamed(info, name)).toBe(1);
    await disconnected;
    expect(bus.isConnected()).toBe(false);
    const publishes = ['d-1', 'd-2', 'd-3'].map((id) =>
      bus.publishEvent('call.ended', { cdr: cdr(id) }),
    );
    expect(bus.buffered).toBe(3);
    await reconnected;
    await Promise.all(publishes);
    await eventually(
      () => received.size,
      (n) => n === 3,
    );
  });
});

describe('bus: connecting', () => {
  it('moves on to the next URL when the first broker does not answer', async () => {
    const { bus } = isolatedBus({ urls: ['amqp://guest:guest@127.0.0.1:1', url] });
    const seen: string[] = [];
    bus.on('connected', ({ url: where }) => {
      seen.push(where);
    });
    await bus.start();
    expect(seen).toEqual([
      'amqp://guest:***@127.0.0.1:17430'.replace('17430', String(info.rabbitmq.port)),
    ]);
    expect(bus.isConnected()).toBe(true);
  });

  it('fails start with SWB_BUS_UNAVAILABLE when no broker answers in time', async () => {
    const bus = createBus({
      urls: ['amqp://guest:guest@127.0.0.1:1'],
      source: 'test',
      startTimeoutMs: 500,
    });
    await expect(bus.start()).rejects.toMatchObject({
      code: BusErrorCode.Unavailable,
      retryable: true,
    });
    expect(bus.state).toBe('closed');
    await bus.close();
  });
});

describe('bus: consuming', () => {
  it('redelivers a failing message up to maxAttempts, then dead-letters it with the reason', async () => {
    const { bus } = isolatedBus({ maxAttempts: 3 });
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    const attempts: number[] = [];
    await bus.subscribe(queue, ['call.ended'], (_event, context) => {
      attempts.push(context.attempt);
      return Promise.reject(new Error('database is on fire'));
    });
    await bus.publishEvent('call.ended', { cdr: cdr('f-1') });
    const [dead] = await raw.collect(deadLetterQueueOf(queue), 1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(dead?.properties.headers?.['x-swb-dead-reason']).toBe('database is on fire');
    expect(dead?.properties.headers?.['x-swb-dead-kind']).toBe('failed');
    expect(dead?.properties.headers?.['x-attempts']).toBe(3);
    expect(JSON.parse(dead?.content.toString() ?? '{}')).toMatchObject({ name: 'call.ended' });
  });

  it('dead-letters invalid messages at once with the reason and keeps consuming', async () => {
    const { bus, exchange } = isolatedBus();
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    const received: string[] = [];
    await bus.subscribe(queue, ['call.ended'], (event) => {
      received.push(event.payload.cdr.callId);
    });
    const send = (body: string): void => {
      raw.channel.publish(exchange, 'call.ended', Buffer.from(body));
    };
    send('not json {');
    send(JSON.stringify({ name: 'call.exploded', id: 'x', payload: {} }));
    send(JSON.stringify({ name: 'call.ended', id: 'y', payload: { cdr: { callId: 1 } } }));
    await bus.publishEvent('call.ended', { cdr: cdr('ok-1') });
    const dead = await raw.collect(deadLetterQueueOf(queue), 3);
    const reasons = dead.map((m) => String(m.properties.headers?.['x-swb-dead-reason']));
    expect(reasons[0]).toMatch(/^not JSON/);
    expect(reasons[1]).toMatch(/unknown event "call.exploded"/);
    expect(reasons[2]).toMatch(/^schema: call.ended: \/cdr/);
    expect(dead.every((m) => m.properties.headers?.['x-swb-dead-kind'] === 'invalid')).toBe(true);
    await eventually(
      () => received,
      (r) => r.includes('ok-1'),
    );
  });

  it('drops the ack of a delivery whose channel died, and handles the redelivery on the new one', async () => {
    const name = uniqueName('conn');
    const registry = new Registry();
    const exchange = uniqueName('ex');
    const bus = createBus(
      { urls: [url], source: 'test', exchange, connectionName: name },
      { registry },
    );
    cleanup.push(async () => {
      await bus.close();
      await raw.deleteExchanges(exchange);
    });
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    const seen: { redelivered: boolean }[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    await bus.subscribe(queue, ['call.ended'], async (_event, context) => {
      seen.push({ redelivered: context.redelivered });
      if (seen.length === 1) await gate;
    });
    await bus.publishEvent('call.ended', { cdr: cdr('stale-1') });
    await eventually(
      () => seen.length,
      (n) => n === 1,
    );
    const reconnected = new Promise<void>((resolve) => {
      bus.on('connected', () => {
        resolve();
      });
    });
    await closeConnectionsNamed(info, name);
    await reconnected;
    release();
    await eventually(
      () => seen.length,
      (n) => n === 2,
    );
    expect(seen[1]?.redelivered).toBe(true);
    const stale = await registry.getSingleMetric('swb_bus_stale_acks_total')?.get();
    expect(stale?.values[0]?.value).toBe(1);
    expect(bus.isConnected()).toBe(true);
    // The redelivery was acked on the live channel: nothing left in the queue.
    await eventually(
      async () => (await raw.channel.checkQueue(queue)).messageCount,
      (n) => n === 0,
    );
  });

  it('drains handlers in progress on close and acks them', async () => {
    const { bus } = isolatedBus();
    await bus.start();
    const queue = uniqueName('q');
    forgetQueue(queue);
    let finished = 0;
    let started = 0;
    await bus.subscribe(queue, ['call.ended'], async () => {
      started++;
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished++;
    });
    await bus.publishEvent('call.ended', { cdr: cdr('slow') });
    await eventually(
      () => started,
      (n) => n === 1,
    );
    await bus.close();
    expect(finished).toBe(1);
    expect(await raw.drain(queue)).toHaveLength(0);
  });
});
