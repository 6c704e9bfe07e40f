import { ConfigError, describeConfig, loadConfig } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { queueConfigSchema, queueRequiredWhen } from '../src/index.js';

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

  const base = {
    SWB_NODE_ID: 'queue-1',
    SWB_AMQP_URLS: 'amqp://guest:guest@mq-1:5672',
    SWB_REDIS_URL: 'redis://127.0.0.1:6379',
  };

  it('runs without a controller by default', () => {
    const { config } = loadConfig(queueConfigSchema, {
      env: base,
      requiredWhen: queueRequiredWhen,
    });
    expect(config.controller).toEqual({ urls: [], heartbeatIntervalMs: 2000 });
  });

  it('reads the controller URLs and join token', () => {
    const { config } = loadConfig(queueConfigSchema, {
      env: {
        ...base,
        SWB_CONTROLLER_URLS: 'http://ctl-1:9400,http://ctl-2:9400',
        SWB_CONTROLLER_JOIN_TOKEN: 'join-secret',
      },
      requiredWhen: queueRequiredWhen,
    });
    expect(config.controller.urls).toEqual(['http://ctl-1:9400', 'http://ctl-2:9400']);
    expect(config.controller.joinToken?.reveal()).toBe('join-secret');
  });

  it('rejects controller URLs without a join token, naming SWB_CONTROLLER_JOIN_TOKEN', () => {
    expect(() =>
      loadConfig(queueConfigSchema, {
        env: { ...base, SWB_CONTROLLER_URLS: 'http://ctl-1:9400' },
        requiredWhen: queueRequiredWhen,
      }),
    ).toThrow(ConfigError);
    expect(() =>
      loadConfig(queueConfigSchema, {
        env: { ...base, SWB_CONTROLLER_URLS: 'http://ctl-1:9400' },
        requiredWhen: queueRequiredWhen,
      }),
    ).toThrow('SWB_CONTROLLER_JOIN_TOKEN is required when SWB_CONTROLLER_URLS is set');
  });
});
