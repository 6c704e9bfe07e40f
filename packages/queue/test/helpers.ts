import { setTimeout as sleep } from 'node:timers/promises';
import { rabbitmqctl, type SandboxInfo } from '@switchboard/sandbox';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';

/** A raw amqplib connection for looking at what the bus did, and for cleaning up after it. */
export interface RawAmqp {
  readonly connection: ChannelModel;
  readonly channel: Channel;
  /** Takes every message now in `queue` (acked). */
  drain(queue: string): Promise<GetMessage[]>;
  /** Polls `queue` until it has received `count` messages in all; returns them. */
  collect(queue: string, count: number, timeoutMs?: number): Promise<GetMessage[]>;
  deleteQueues(...queues: string[]): Promise<void>;
  deleteExchanges(...exchanges: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function rawAmqp(url: string): Promise<RawAmqp> {
  const connection = await connect(url);
  connection.on('error', () => undefined);
  let channel = await connection.createChannel();
  const fresh = async (): Promise<Channel> => {
    channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return channel;
  };
  channel.on('error', () => undefined);
  const drain = async (queue: string): Promise<GetMessage[]> => {
    const out: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) return out;
      out.push(message);
    }
  };
  return {
    connection,
    get channel() {
      return channel;
    },
    drain,
    async collect(queue, count, timeoutMs = 15_000) {
      const out: GetMessage[] = [];
      const deadline = Date.now() + timeoutMs;
      while (out.length < count) {
        out.push(...(await drain(queue)));
        if (out.length >= count) break;
        if (Date.now() > deadline) {
          throw new Error(`queue ${queue}: ${out.length} of ${count} messages`);
        }
        await sleep(50);
      }
      return out;
    },
    async deleteQueues(...queues) {
      for (const queue of queues) {
        try {
          await channel.deleteQueue(queue);
        } catch {
          await fresh();
        }
      }
    },
    async deleteExchanges(...exchanges) {
      for (const exchange of exchanges) {
        try {
          await channel.deleteExchange(exchange);
        } catch {
          await fresh();
        }
      }
    },
    async close() {
      await connection.close();
    },
  };
}

/** Closes the broker side of every connection whose client named itself `name`. */
export async function closeConnectionsNamed(info: SandboxInfo, name: string): Promise<number> {
  const out = await rabbitmqctl(info, [
    'list_connections',
    'pid',
    'client_properties',
    '--quiet',
    '--no-table-headers',
  ]);
  const needle = `{"connection_name","${name}"}`;
  let closed = 0;
  for (const line of out.split('\n')) {
    if (!line.includes(needle)) continue;
    const pid = line.split('\t')[0] ?? '';
    await rabbitmqctl(info, ['close_connection', pid, 'test: forced close']);
    closed++;
  }
  return closed;
}

/** Polls `read` until `accept` takes its result; fails after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T> | T,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)}`);
    await sleep(25);
  }
}

export { cdr } from './fixtures.js';
