import { ConfigError, Secret, describeConfig, loadConfig } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { workerConfigSchema, workerRequiredWhen } from '../src/index.js';

const base = {
  SWB_NODE_ID: 'worker-1',
  SWB_REDIS_URL: 'redis://127.0.0.1:6379',
  SWB_SQL_PRIMARY: 'mysql://root@127.0.0.1:3306',
  SWB_SPOOL_DIR: '/var/spool/switchboard',
};

function load(env: Record<string, string>) {
  return loadConfig(workerConfigSchema, {
    env: { ...base, ...env },
    requiredWhen: workerRequiredWhen,
  });
}

function issuesOf(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('worker config', () => {
  it('defaults the ops port to 9402 and the blob driver to posix', () => {
    const { config } = load({ SWB_BLOB_ROOT: '/var/lib/switchboard' });
    expect(config.ops.port).toBe(9402);
    expect(config.blob).toMatchObject({ driver: 'posix', root: '/var/lib/switchboard' });
  });

  it('requires blob.root for the posix driver', () => {
    expect(issuesOf({})).toContain('SWB_BLOB_ROOT is required when SWB_BLOB_DRIVER is "posix"');
  });

  it('requires every S3 setting for the s3 driver, naming each variable', () => {
    const message = issuesOf({ SWB_BLOB_DRIVER: 's3', SWB_BLOB_S3_REGION: 'eu-west-1' });
    for (const env of [
      'SWB_BLOB_S3_ENDPOINT',
      'SWB_BLOB_S3_BUCKET',
      'SWB_BLOB_S3_ACCESS_KEY_ID',
      'SWB_BLOB_S3_SECRET_ACCESS_KEY',
    ]) {
      expect(message).toContain(`${env} is required when SWB_BLOB_DRIVER is "s3"`);
    }
    expect(message).not.toContain('SWB_BLOB_S3_REGION');
    expect(message).not.toContain('SWB_BLOB_ROOT');
  });

  it('reads the S3 settings from their variables, the secret key as a Secret', () => {
    const { config } = load({
      SWB_BLOB_DRIVER: 's3',
      SWB_BLOB_S3_ENDPOINT: 'http://127.0.0.1:9000',
      SWB_BLOB_S3_REGION: 'us-east-1',
      SWB_BLOB_S3_BUCKET: 'recordings',
      SWB_BLOB_S3_ACCESS_KEY_ID: 'AKIA',
      SWB_BLOB_S3_SECRET_ACCESS_KEY: 'shh',
      SWB_BLOB_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config.blob.s3).toMatchObject({ bucket: 'recordings', forcePathStyle: true });
    expect(config.blob.s3.secretAccessKey).toBeInstanceOf(Secret);
    expect(config.blob.s3.secretAccessKey?.reveal()).toBe('shh');
  });

  it('requires the Redis and SQL primary addresses and the spool directory, with no default', () => {
    const rows = describeConfig(workerConfigSchema);
    expect(rows.filter((row) => row.required).map((row) => row.env)).toEqual([
      'SWB_REDIS_URL',
      'SWB_SQL_PRIMARY',
      'SWB_SPOOL_DIR',
    ]);
  });

  it('defaults to the shared task queue, search off, hourly purges and 30 s locks', () => {
    const { config } = load({ SWB_BLOB_ROOT: '/var/lib/switchboard' });
    expect(config.queue).toEqual({
      name: 'switchboard-tasks',
      prefix: 'bull',
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 1,
    });
    expect(config.search.node).toEqual([]);
    expect(config.schedules).toEqual({
      retentionPurgeEveryMs: 3_600_000,
      retentionPurgeBatchSize: 500,
    });
    expect(config.concurrency).toMatchObject({ total: 16, blobIngest: 4, retentionPurge: 1 });
  });

  it('reads search nodes as a list and the API key as a Secret', () => {
    const { config } = load({
      SWB_BLOB_ROOT: '/b',
      SWB_SEARCH_NODE: 'http://es-1:9200,http://es-2:9200',
      SWB_SEARCH_API_KEY: 'key',
    });
    expect(config.search.node).toEqual(['http://es-1:9200', 'http://es-2:9200']);
    expect(config.search.apiKey).toBeInstanceOf(Secret);
  });

  it('runs without a controller by default', () => {
    const { config } = load({ SWB_BLOB_ROOT: '/b' });
    expect(config.controller).toEqual({ urls: [], heartbeatIntervalMs: 2000 });
  });

  it('reads the controller URLs, the join token as a Secret and the heartbeat interval', () => {
    const { config } = load({
      SWB_BLOB_ROOT: '/b',
      SWB_CONTROLLER_URLS: 'http://ctl-1:9400,http://ctl-2:9400',
      SWB_CONTROLLER_JOIN_TOKEN: 'join',
      SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS: '1000',
    });
    expect(config.controller.urls).toEqual(['http://ctl-1:9400', 'http://ctl-2:9400']);
    expect(config.controller.joinToken).toBeInstanceOf(Secret);
    expect(config.controller.heartbeatIntervalMs).toBe(1000);
  });

  it('requires the join token once a controller URL is set', () => {
    expect(issuesOf({ SWB_BLOB_ROOT: '/b', SWB_CONTROLLER_URLS: 'http://ctl-1:9400' })).toContain(
      'SWB_CONTROLLER_JOIN_TOKEN is required when SWB_CONTROLLER_URLS is set',
    );
  });

  it('rejects a controller address that is not an http(s) URL and a heartbeat under 100 ms', () => {
    const message = issuesOf({
      SWB_BLOB_ROOT: '/b',
      SWB_CONTROLLER_URLS: 'ctl-1:9400',
      SWB_CONTROLLER_JOIN_TOKEN: 'join',
      SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS: '10',
    });
    expect(message).toContain('SWB_CONTROLLER_URLS');
    expect(message).toContain('SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS');
    expect(message).not.toContain('join');
  });
});
