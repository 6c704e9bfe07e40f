import { PosixBlobStore } from './posix.js';
import { S3BlobStore, type S3BlobStoreDeps } from './s3.js';
import { resolveBlobConfig, type BlobStoreConfig } from './config.js';
import type { BlobStore } from './types.js';

export type BlobStoreDeps = S3BlobStoreDeps;

/**
 * Creates a blob store from a configuration validated once, here (`ConfigError` names every bad
 * field). The worker's loaded `blob` config fits as it is. Close it when done: the S3 backend
 * holds sockets.
 */
export function createBlobStore(config: BlobStoreConfig, deps: BlobStoreDeps = {}): BlobStore {
  const resolved = resolveBlobConfig(config);
  return resolved.driver === 'posix'
    ? new PosixBlobStore(resolved)
    : new S3BlobStore(resolved, deps);
}
