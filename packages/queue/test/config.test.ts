import { describeConfig, loadConfig } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { queueConfigSchema } from '../src/index.js';

describe('queue config', () => {
  it('reads the RabbitMQ URLs as a list and defaults the ops port to 9401', () => {
    const { config } = loadConfig(queueConfigSchema, {
      env: {
        SWB_NODE_ID: 'queue-1',
        SWB_AMQP_URLS: 'amqp://guest:guest@mq-1:5672,amqp://guest:guest@mq-2:5672',
        SWB_REDIS_URL: 'redis://127.0.0.1:6379',
      },
    });
    expect(config.amqp.urls).toHaveLength(2);
    expect(config.ops.port).toBe(9401);
  });

  it('has no default address for any dependency', () => {
    const required = describeConfig(queueConfigSchema).filter((row) => row.required);
    expect(required.map((row) => row.env)).toEqual(['SWB_AMQP_URLS', 'SWB_REDIS_URL']);
  });
});
