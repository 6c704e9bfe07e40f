import { describe, expect, it } from 'vitest';
import {
  CLUSTER_BUS_OFFSET,
  DEFAULT_PORT_BASE,
  SERVER_NAMES,
  allServers,
  defaultSandboxRoot,
  infoFromLayout,
  sandboxLayout,
  socketPath,
} from '../src/layout.js';
import { SandboxErrorCode } from '../src/errors.js';

const root = '/srv/checkout/.sandbox';
const layout = sandboxLayout(root, DEFAULT_PORT_BASE);

describe('port layout', () => {
  it('puts each server on its documented offset from the port base', () => {
    const ports = Object.fromEntries(allServers(layout).map((s) => [s.name, s.port]));
    expect(ports).toEqual({
      'mariadb-primary': 17400,
      'mariadb-replica-1': 17401,
      'mariadb-replica-2': 17402,
      redis: 17410,
      'redis-cluster-1': 17420,
      'redis-cluster-2': 17421,
      'redis-cluster-3': 17422,
      'redis-cluster-4': 17423,
      'redis-cluster-5': 17424,
      'redis-cluster-6': 17425,
      epmd: 17432,
      rabbitmq: 17430,
      s3: 17440,
    });
    expect(layout.rabbitmq.distPort).toBe(17431);
    expect(layout.rabbitmq.epmdPort).toBe(17432);
  });

  it('gives every server a distinct port, pid file and log file', () => {
    const servers = allServers(layout);
    expect(servers.map((s) => s.name)).toEqual([...SERVER_NAMES]);
    for (const key of ['port', 'pidFile', 'logFile'] as const) {
      expect(new Set(servers.map((s) => s[key])).size).toBe(servers.length);
    }
  });

  it('moves with the port base', () => {
    const moved = sandboxLayout(root, 20000);
    expect(moved.mariadb.primary.port).toBe(20000);
    expect(moved.redisCluster.map((n) => n.port)).toEqual([
      20020, 20021, 20022, 20023, 20024, 20025,
    ]);
    expect(moved.s3.port).toBe(20040);
  });

  it('accepts port bases that keep the cluster bus below the ephemeral range and refuses others', () => {
    const highest = 32767 - 25 - CLUSTER_BUS_OFFSET;
    expect(() => sandboxLayout(root, highest)).not.toThrow();
    for (const bad of [highest + 1, 80, 17400.5, Number.NaN]) {
      expect(() => sandboxLayout(root, bad)).toThrow(
        expect.objectContaining({ code: SandboxErrorCode.badOption }),
      );
    }
  });

  it('refuses a relative folder', () => {
    expect(() => sandboxLayout('.sandbox', DEFAULT_PORT_BASE)).toThrow(/absolute/);
  });
});

describe('files of the sandbox', () => {
  it('keeps every MariaDB node in its own data folder and its own tmpdir', () => {
    const nodes = [layout.mariadb.primary, ...layout.mariadb.replicas];
    expect(new Set(nodes.map((n) => n.tmpDir)).size).toBe(3);
    expect(new Set(nodes.map((n) => n.dataDir)).size).toBe(3);
    expect(nodes.map((n) => n.serverId)).toEqual([1, 2, 3]);
    for (const node of nodes) expect(node.dataDir.startsWith(`${root}/`)).toBe(true);
  });

  it('keeps RabbitMQ files, pid file included, in the folder RabbitMQ owns', () => {
    const rabbit = layout.rabbitmq;
    for (const path of [
      rabbit.pidFile,
      rabbit.logFile,
      rabbit.mnesiaBase,
      rabbit.home,
      rabbit.configFile,
    ]) {
      expect(path.startsWith(`${rabbit.dir}/`)).toBe(true);
    }
  });

  it('falls back to the temporary folder for a socket path too long for sun_path', () => {
    const short = '/srv/x/run/mariadb-primary.sock';
    expect(socketPath(short, '/srv/x', 17400, '/tmp')).toBe(short);
    const deep = `/${'d'.repeat(120)}/run/mariadb-primary.sock`;
    const fallback = socketPath(deep, `/${'d'.repeat(120)}`, 17400, '/tmp');
    expect(fallback).toMatch(/^\/tmp\/swb-[0-9a-f]{8}-17400\.sock$/);
  });

  it('defaults to the .sandbox folder of the checkout', () => {
    expect(defaultSandboxRoot()).toMatch(/\/\.sandbox$/);
    expect(defaultSandboxRoot()).not.toContain('/packages/');
  });
});

describe('sandbox info', () => {
  const info = infoFromLayout(layout);

  it('gives clients URIs on loopback', () => {
    expect(info.mariadb.primary.uri).toBe('mysql://root@127.0.0.1:17400');
    expect(info.mariadb.replicas.map((r) => r.name)).toEqual(['replica-1', 'replica-2']);
    expect(info.redis.url).toBe('redis://127.0.0.1:17410');
    expect(info.redisCluster.nodes).toHaveLength(6);
    expect(info.rabbitmq.url).toBe('amqp://guest:guest@127.0.0.1:17430');
  });

  it('describes s3rver with its fixed credentials and path-style addressing', () => {
    expect(info.s3).toEqual({
      endpoint: 'http://127.0.0.1:17440',
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      bucket: 'switchboard',
    });
  });
});
