import { inspect } from 'node:util';
import { ConfigError, Secret, Type, kvConfigSchema, type Static } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { kvClientOptions, kvDefaults, resolveKvConfig, type KvConfig } from '../src/kv/index.js';

function issuesOf(config: unknown): string[] {
  try {
    resolveKvConfig(config as KvConfig);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('kv configuration', () => {
  it("accepts the daemons' kv config ({ nodes }) as it is, with every default written out", () => {
    const daemonKv: Static<ReturnType<typeof kvConfigSchema>> = {
      nodes: ['127.0.0.1:17420', '[::1]:17421'],
    };
    const resolved = resolveKvConfig(daemonKv);
    expect(resolved).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 17420 },
        { host: '::1', port: 17421 },
      ],
      username: undefined,
      password: undefined,
      keyPrefix: kvDefaults.keyPrefix,
      commandTimeoutMs: kvDefaults.commandTimeoutMs,
      connectTimeoutMs: kvDefaults.connectTimeoutMs,
      failoverRetryDelayMs: kvDefaults.failoverRetryDelayMs,
      readFrom: 'primary',
      scanCount: kvDefaults.scanCount,
      updateAttempts: kvDefaults.updateAttempts,
    });
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Type.Object({ kv: kvConfigSchema() })).toBeDefined();
  });

  it('names every bad field at once', () => {
    expect(
      issuesOf({
        nodes: ['127.0.0.1', 'host:0', 42],
        mode: 'sentinel',
        keyPrefix: 7,
        commandTimeoutMs: 0,
        connectTimeoutMs: 1.5,
        failoverRetryDelayMs: -1,
        readFrom: 'nearest',
        scanCount: 'many',
        updateAttempts: 0,
        username: '',
      }),
    ).toEqual([
      'kv.mode: expected "cluster" or "standalone"',
      'kv.nodes[0]: expected "host:port" with a port in 1..65535',
      'kv.nodes[1]: expected "host:port" with a port in 1..65535',
      'kv.nodes[2]: expected "host:port" with a port in 1..65535',
      'kv.username: expected a non-empty string',
      'kv.keyPrefix: expected a string',
      'kv.readFrom: expected "primary" or "replica"',
      'kv.commandTimeoutMs: expected an integer from 1 to 600000',
      'kv.connectTimeoutMs: expected an integer from 1 to 600000',
      'kv.failoverRetryDelayMs: expected an integer from 1 to 60000',
      'kv.scanCount: expected an integer from 1 to 100000',
      'kv.updateAttempts: expected an integer from 1 to 1000',
    ]);
  });

  it('requires seed nodes', () => {
    expect(issuesOf({})).toEqual(['kv.nodes: is required: seed nodes as "host:port"']);
    expect(issuesOf({ nodes: [] })).toEqual([
      'kv.nodes: expected a non-empty array of "host:port"',
    ]);
    expect(issuesOf(null)).toEqual(['kv.nodes: expected a configuration object with nodes']);
  });

  it('refuses hash tags in the key prefix, pointing at colocated namespaces', () => {
    const [issue] = issuesOf({ nodes: ['a:1'], keyPrefix: '{swb}:' });
    expect(issue).toMatch(/^kv\.keyPrefix: must not contain "\{" or "\}".*colocate: true/);
  });

  it('takes one node in standalone mode, and refuses replica reads there', () => {
    expect(issuesOf({ nodes: ['a:1', 'b:2'], mode: 'standalone' })).toEqual([
      'kv.nodes: expected exactly one node in standalone mode',
    ]);
    expect(issuesOf({ nodes: ['a:1'], mode: 'standalone', readFrom: 'replica' })).toEqual([
      'kv.readFrom: a standalone server has no replicas: "replica" needs mode "cluster"',
    ]);
  });

  it('keeps the password a Secret and out of every error', () => {
    const resolved = resolveKvConfig({ nodes: ['a:1'], password: 'hunter2' });
    expect(resolved.password).toBeInstanceOf(Secret);
    expect(resolved.password?.reveal()).toBe('hunter2');
    expect(JSON.stringify(resolved)).not.toContain('hunter2');
    expect(inspect(resolved)).not.toContain('hunter2');
    try {
      resolveKvConfig({ nodes: ['nope'], password: 'hunter2', keyPrefix: '{' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(JSON.stringify(err)).not.toContain('hunter2');
      expect(String(err)).not.toContain('hunter2');
    }
    expect(issuesOf({ nodes: ['a:1'], password: 12345 })).toEqual([
      'kv.password: expected a non-empty string or Secret',
    ]);
  });

  it('sizes the cluster retries so the command timeout is the deadline of a call', () => {
    const resolved = resolveKvConfig({
      nodes: ['a:1'],
      commandTimeoutMs: 4000,
      failoverRetryDelayMs: 200,
      readFrom: 'replica',
    });
    const { cluster, standalone } = kvClientOptions(resolved);
    expect(cluster).toMatchObject({
      scaleReads: 'slave',
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      retryDelayOnMoved: 50,
      maxRedirections: 36,
      redisOptions: { commandTimeout: 4000, connectTimeout: 5000 },
    });
    expect(kvClientOptions(resolved, 'primary').cluster.scaleReads).toBe('master');
    expect(standalone).toEqual({ commandTimeout: 4000, connectTimeout: 5000 });
  });
});
