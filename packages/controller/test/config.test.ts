import { ConfigError, describeConfig, loadConfig } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { controllerConfigSchema } from '../src/index.js';

describe('controller config', () => {
  it('reads SQL, kv and AMQP addresses and defaults the ops port to 9400', () => {
    const { config } = loadConfig(controllerConfigSchema, {
      env: {
        SWB_NODE_ID: 'controller-1',
        SWB_SQL_PRIMARY: 'mysql://root@db-1:3306/switchboard',
        SWB_SQL_REPLICAS: 'mysql://root@db-2:3306/switchboard,mysql://root@db-3:3306/switchboard',
        SWB_KV_NODES: '10.0.0.1:7000,10.0.0.2:7000',
        SWB_AMQP_URLS: 'amqp://mq-1',
        SWB_API_ADMIN_TOKEN: 'admin-token-0123456789',
        SWB_API_JOIN_TOKEN: 'join-token-0123456789',
      },
    });
    expect(config.sql.replicas).toHaveLength(2);
    expect(config.kv.nodes).toEqual(['10.0.0.1:7000', '10.0.0.2:7000']);
    expect(config.ops.port).toBe(9400);
    expect(config.api.port).toBe(8080);
    expect(String(config.api.adminToken)).toBe('[redacted]');
    expect(config.registry.leaseTtlMs).toBe(6000);
  });

  it('rejects a kv node that is not host:port', () => {
    expect(() =>
      loadConfig(controllerConfigSchema, {
        env: {
          SWB_NODE_ID: 'c',
          SWB_SQL_PRIMARY: 'mysql://db',
          SWB_KV_NODES: '10.0.0.1',
          SWB_AMQP_URLS: 'amqp://mq',
        },
      }),
    ).toThrow(ConfigError);
  });

  it('refuses a token shorter than 16 characters without echoing it', () => {
    let error: unknown;
    try {
      loadConfig(controllerConfigSchema, {
        env: {
          SWB_NODE_ID: 'c',
          SWB_SQL_PRIMARY: 'mysql://db',
          SWB_KV_NODES: '10.0.0.1:7000',
          SWB_AMQP_URLS: 'amqp://mq',
          SWB_API_ADMIN_TOKEN: 'short-secret',
          SWB_API_JOIN_TOKEN: 'join-token-0123456789',
        },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toContain('SWB_API_ADMIN_TOKEN');
    expect(String(error)).not.toContain('short-secret');
  });

  it('has no default address or token', () => {
    const required = describeConfig(controllerConfigSchema).filter((row) => row.required);
    expect(required.map((row) => row.env)).toEqual([
      'SWB_SQL_PRIMARY',
      'SWB_KV_NODES',
      'SWB_AMQP_URLS',
      'SWB_API_ADMIN_TOKEN',
      'SWB_API_JOIN_TOKEN',
    ]);
  });
});
