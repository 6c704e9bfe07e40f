import { ConfigError, Secret } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { blobDefaults, resolveBlobConfig, type BlobStoreConfig } from '../src/index.js';

function issuesOf(config: unknown): string[] {
  try {
    resolveBlobConfig(config as BlobStoreConfig);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('blob store configuration', () => {
  it("accepts the worker daemon's blob config shape as it is", () => {
    const workerBlob = {
      driver: 's3',
      s3: {
        endpoint: 'http://127.0.0.1:17440',
        region: 'us-east-1',
        bucket: 'switchboard',
        accessKeyId: 'S3RVER',
        secretAccessKey: new Secret('S3RVER'),
        forcePathStyle: true,
      },
    } as const;
    const resolved = resolveBlobConfig(workerBlob);
    expect(resolved).toMatchObject({
      driver: 's3',
      bucket: 'switchboard',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      partSize: blobDefaults.partSize,
      multipartThreshold: blobDefaults.multipartThreshold,
    });
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(JSON.stringify(resolved)).not.toContain('S3RVER"}');
    expect(
      resolveBlobConfig({ driver: 'posix', root: '/srv/blobs', s3: { forcePathStyle: false } }),
    ).toEqual({
      driver: 'posix',
      root: '/srv/blobs',
      fsync: true,
      signing: undefined,
    });
  });

  it('names every bad field in one ConfigError, by its path', () => {
    expect(issuesOf({ driver: 'posix' })).toEqual([
      'blob.root: is required when blob.driver is "posix"',
    ]);
    expect(issuesOf({ driver: 'posix', root: 'relative/dir' })).toEqual([
      'blob.root: expected an absolute path',
    ]);
    expect(issuesOf({ driver: 'ftp' })).toEqual(['blob.driver: expected "posix" or "s3"']);
    expect(
      issuesOf({
        driver: 's3',
        s3: {
          bucket: 'Bad_Bucket',
          accessKeyId: 'x',
          partSize: 1024,
          queueSize: 0,
          endpoint: 'ftp://x',
        },
      }),
    ).toEqual([
      'blob.s3.endpoint: expected an http(s) URL',
      'blob.s3.region: is required when blob.driver is "s3"',
      'blob.s3.bucket: expected a bucket name: 3–63 of [a-z0-9.-]',
      'blob.s3.secretAccessKey: is required with the other half of the key pair',
      'blob.s3.partSize: expected an integer from 5242880 to 5368709120',
      'blob.s3.queueSize: expected an integer from 1 to 64',
    ]);
  });

  it('never quotes a secret in an error', () => {
    let message = '';
    try {
      resolveBlobConfig({ driver: 's3', s3: { region: 'r', bucket: 'bkt', secretAccessKey: '' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('blob.s3.secretAccessKey');
    expect(message).not.toContain('""');
  });
});
