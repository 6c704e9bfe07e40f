import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { rabbitmqctl, restartRabbitMq } from '../../src/index.js';
import { uniqueName } from '../../src/testing.js';

const info = inject('sandbox');

const connections: ChannelModel[] = [];

async function open(): Promise<ChannelModel> {
  const connection = await connect(info.rabbitmq.url);
  // A server-initiated close (a restart) is also emitted as 'error'; tests watch 'close'.
  connection.on('error', () => undefined);
  connections.push(connection);
  return connection;
}

afterEach(async () => {
  for (const connection of connections.splice(0)) {
    await connection.close().catch(() => undefined);
  }
});

/** Resolves with the first message consumed from the queue. */
async function consumeOne(connection: ChannelModel, queue: string): Promise<ConsumeMessage> {
  const channel = await connection.createChannel();
  return new Promise((resolve, reject) => {
    channel
      .consume(queue, (message) => {
        if (message === null) {
          reject(new Error('consumer cancelled'));
          return;
        }
        channel.ack(message);
        resolve(message);
      })
      .catch(reject);
  });
}

describe('RabbitMQ in the sandbox', () => {
  it('delivers a message published to a fresh queue to its consumer', async () => {
    const connection = await open();
    const channel = await connection.createChannel();
    const queue = uniqueName('q');
    await channel.assertQueue(queue, { durable: false });
    try {
      channel.sendToQueue(queue, Buffer.from('hello'), { messageId: 'm1' });
      const message = await consumeOne(connection, queue);
      expect(message.content.toString()).toBe('hello');
      expect(message.properties.messageId).toBe('m1');
    } finally {
      await channel.deleteQueue(queue);
    }
  });

  it('runs rabbitmqctl against the sandbox node, not the machine one', async () => {
    const output = await rabbitmqctl(info, ['status']);
    expect(output).toContain(info.rabbitmq.nodeName);
  });

  it('drops client connections on restart, keeps durable messages, and accepts new connections', async () => {
    const queue = uniqueName('q');
    const before = await open();
    const closed = new Promise<void>((resolve) => {
      before.once('close', () => {
        resolve();
      });
    });
    const setup = await before.createConfirmChannel();
    await setup.assertQueue(queue, { durable: true });
    setup.sendToQueue(queue, Buffer.from('survives'), { persistent: true });
    await setup.waitForConfirms();

    await restartRabbitMq(info);
    await closed;

    const after = await open();
    try {
      const message = await consumeOne(after, queue);
      expect(message.content.toString()).toBe('survives');
    } finally {
      const channel = await after.createChannel();
      await channel.deleteQueue(queue);
    }
  });
});
