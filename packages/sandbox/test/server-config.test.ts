import { describe, expect, it } from 'vitest';
import { sandboxLayout } from '../src/layout.js';
import { parseGtid as parseGtidPosition } from '@switchboard/storage';
import { gtidLag, mariadbArgs } from '../src/mariadb.js';
import { rabbitmqConfig, rabbitmqEnvironment } from '../src/rabbitmq.js';
import { redisArgs } from '../src/redis.js';

const root = '/srv/checkout/.sandbox';
const layout = sandboxLayout(root, 17400);

describe('mariadbd command line', () => {
  const primary = mariadbArgs(layout.mariadb.primary, true);
  const replica = mariadbArgs(layout.mariadb.replicas[0] ?? layout.mariadb.primary, false);

  it('starts with --no-defaults, so no my.cnf of the machine applies', () => {
    expect(primary[0]).toBe('--no-defaults');
  });

  it('binds to loopback with its own port, tmpdir, server id and GTID binlog settings', () => {
    expect(primary).toEqual(
      expect.arrayContaining([
        '--user=root',
        '--bind-address=127.0.0.1',
        '--port=17400',
        `--tmpdir=${root}/mariadb/primary/tmp`,
        '--server-id=1',
        '--log-bin=primary-bin',
        '--log-slave-updates',
        '--gtid-strict-mode=1',
        '--binlog-format=ROW',
        '--performance-schema=OFF',
      ]),
    );
    expect(primary).not.toContain('--read-only=1');
  });

  it('makes replicas read-only and runs as the calling user when not root', () => {
    expect(replica).toEqual(
      expect.arrayContaining(['--port=17401', '--server-id=2', '--read-only=1']),
    );
    expect(replica.some((a) => a.startsWith('--user='))).toBe(false);
  });
});

describe('GTID lag', () => {
  it('parses positions per replication domain', () => {
    expect(parseGtidPosition('0-1-42,1-2-7')).toEqual(
      new Map([
        [0, 42],
        [1, 7],
      ]),
    );
    expect(parseGtidPosition('')).toEqual(new Map());
  });

  it('counts transactions the replica has not applied, over every domain', () => {
    expect(gtidLag('0-1-42', '0-1-42')).toBe(0);
    expect(gtidLag('0-1-42', '0-1-40')).toBe(2);
    expect(gtidLag('0-1-42,1-1-5', '0-1-40')).toBe(7);
    expect(gtidLag('0-1-3', '')).toBe(3);
    expect(gtidLag('', '')).toBe(0);
  });
});

describe('redis-server command line', () => {
  it('runs a standalone server daemonized on loopback without persistence', () => {
    const args = redisArgs(layout.redis, false);
    expect(args.join(' ')).toContain('--port 17410 --bind 127.0.0.1 --daemonize yes');
    expect(args).toEqual(expect.arrayContaining(['--pidfile', layout.redis.pidFile]));
    expect(args[args.indexOf('--save') + 1]).toBe('');
    expect(args).not.toContain('--cluster-enabled');
  });

  it('enables cluster mode with a 2 s node timeout for cluster nodes', () => {
    const node = layout.redisCluster[0] ?? layout.redis;
    const args = redisArgs(node, true).join(' ');
    expect(args).toContain('--cluster-enabled yes --cluster-config-file nodes.conf');
    expect(args).toContain('--cluster-node-timeout 2000');
    expect(args).toContain(`--dir ${root}/redis-cluster/1`);
  });
});

describe('RabbitMQ environment', () => {
  const env = rabbitmqEnvironment(layout.rabbitmq);

  it('names its own node and uses its own epmd, never the machine ones', () => {
    expect(env.RABBITMQ_NODENAME).toBe('swb-sandbox@localhost');
    expect(env.ERL_EPMD_PORT).toBe('17432');
    expect(env.ERL_EPMD_ADDRESS).toBe('127.0.0.1');
    expect(env.RABBITMQ_NODE_IP_ADDRESS).toBe('127.0.0.1');
    expect(env.RABBITMQ_NODE_PORT).toBe('17430');
    expect(env.RABBITMQ_DIST_PORT).toBe('17431');
    expect(env.RABBITMQ_CTL_DIST_PORT_MIN).toBe('17433');
    expect(env.RABBITMQ_CTL_DIST_PORT_MAX).toBe('17439');
  });

  it('keeps every file, the Erlang cookie home and the env file included, in the sandbox', () => {
    for (const key of [
      'HOME',
      'RABBITMQ_MNESIA_BASE',
      'RABBITMQ_LOG_BASE',
      'RABBITMQ_LOGS',
      'RABBITMQ_PID_FILE',
      'RABBITMQ_ENABLED_PLUGINS_FILE',
      'RABBITMQ_CONFIG_FILE',
      'RABBITMQ_CONFIG_FILES',
      'RABBITMQ_ADVANCED_CONFIG_FILE',
      'RABBITMQ_CONF_ENV_FILE',
    ]) {
      expect(env[key], key).toMatch(new RegExp(`^${root}/rabbitmq/`));
    }
  });

  it('binds the Erlang distribution port to loopback', () => {
    expect(env.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS).toContain(
      'inet_dist_use_interface {127,0,0,1}',
    );
  });

  it('listens for AMQP on loopback only', () => {
    expect(rabbitmqConfig(layout.rabbitmq)).toContain('listeners.tcp.default = 127.0.0.1:17430');
  });
});
