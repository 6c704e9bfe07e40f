import { isAbsolute, resolve } from 'node:path';
import { ConfigError, Secret } from '@switchboard/runtime';
import {
  booleanOption,
  integerOption,
  optionalSecretOption,
  optionalStringOption,
  OptionIssues,
} from '../options.js';

/**
 * `createBlobStore`'s configuration. Its shape is a superset of the worker's `blob` config
 * (`driver`, `root`, `s3.{endpoint,region,bucket,accessKeyId,secretAccessKey,forcePathStyle}`),
 * so a daemon passes its loaded config straight in; the other fields tune the backends.
 */
export interface BlobStoreConfig {
  readonly driver: 'posix' | 's3';
  /** posix: the root directory (local or NFS). */
  readonly root?: string | undefined;
  /** posix: fsync file and directory on every write (default true; false only for scratch data). */
  readonly fsync?: boolean | undefined;
  /**
   * posix: how `presign` signs URLs for a server (the controller) that serves the files:
   * `${baseUrl}/${key}?…&X-Swb-Signature=…`, checked there with `verifyPresignedUrl`.
   */
  readonly signing?: PosixSigningConfig | undefined;
  readonly s3?: S3BlobConfig | undefined;
}

export interface PosixSigningConfig {
  readonly baseUrl: string;
  readonly secret: Secret | string;
}

export interface S3BlobConfig {
  /** Omit for AWS itself; e.g. `http://127.0.0.1:17440` for s3rver, MinIO, R2, B2. */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  readonly bucket?: string | undefined;
  /** With `secretAccessKey`; omit both for the SDK's default credential chain. */
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: Secret | string | undefined;
  readonly sessionToken?: Secret | string | undefined;
  /** Path-style addressing (`endpoint/bucket/key`); default false (virtual host). */
  readonly forcePathStyle?: boolean | undefined;
  /**
   * The SDK's request checksums. Default `WHEN_REQUIRED`: `WHEN_SUPPORTED` makes the SDK send
   * aws-chunked CRC uploads, which s3rver, R2 and B2 store with the chunk framing inside.
   */
  readonly requestChecksumCalculation?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined;
  readonly responseChecksumValidation?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined;
  /**
   * A Buffer or string larger than this goes multipart (default 64 MiB, at least `partSize`):
   * below it the bytes are in memory already and one PutObject costs the server least. A stream
   * goes multipart once it outgrows one part, so its memory stays bounded.
   */
  readonly multipartThreshold?: number | undefined;
  /** Default 5 MiB, S3's minimum (the last part may be smaller). */
  readonly partSize?: number | undefined;
  /** Parts in flight at once; memory ≈ (queueSize + 1) × partSize per upload. Default 4. */
  readonly queueSize?: number | undefined;
  /** Attempts per request (the SDK's standard retry: exponential backoff, full jitter). Default 4. */
  readonly maxAttempts?: number | undefined;
  /** Default 5000 ms. */
  readonly connectTimeoutMs?: number | undefined;
  /** A socket idle this long fails the attempt (retried). Default 30000 ms. */
  readonly idleTimeoutMs?: number | undefined;
  /** Whole-request deadline of non-streaming calls (head, list, delete, copy…). Default 60000 ms. */
  readonly requestTimeoutMs?: number | undefined;
  /** Sockets per host. Default 64. */
  readonly maxSockets?: number | undefined;
  /**
   * Whether the server enforces `If-None-Match: *` (AWS since 2024, MinIO, R2). Default true.
   * The store always checks with HEAD first; with false, `capabilities.conditionalCreate` says
   * `best-effort` (s3rver ignores the header).
   */
  readonly conditionalWrites?: boolean | undefined;
}

export interface ResolvedPosixConfig {
  readonly driver: 'posix';
  readonly root: string;
  readonly fsync: boolean;
  readonly signing: { readonly baseUrl: string; readonly secret: Secret } | undefined;
}

export interface ResolvedS3Config {
  readonly driver: 's3';
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  readonly credentials:
    | {
        readonly accessKeyId: string;
        readonly secretAccessKey: Secret;
        readonly sessionToken: Secret | undefined;
      }
    | undefined;
  readonly forcePathStyle: boolean;
  readonly requestChecksumCalculation: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  readonly responseChecksumValidation: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  readonly multipartThreshold: number;
  readonly partSize: number;
  readonly queueSize: number;
  readonly maxAttempts: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxSockets: number;
  readonly conditionalWrites: boolean;
}

export type ResolvedBlobConfig = ResolvedPosixConfig | ResolvedS3Config;

const MiB = 1024 * 1024;

/** Every default, in one place. */
export const blobDefaults = Object.freeze({
  fsync: true,
  forcePathStyle: false,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  multipartThreshold: 64 * MiB,
  partSize: 5 * MiB,
  queueSize: 4,
  maxAttempts: 4,
  connectTimeoutMs: 5000,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  maxSockets: 64,
  conditionalWrites: true,
} as const);

function checksumMode(
  issues: OptionIssues,
  path: string,
  value: unknown,
): 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' {
  if (value === undefined) return 'WHEN_REQUIRED';
  if (value === 'WHEN_REQUIRED' || value === 'WHEN_SUPPORTED') return value;
  issues.add(path, 'expected "WHEN_REQUIRED" or "WHEN_SUPPORTED"', value);
  return 'WHEN_REQUIRED';
}

/**
 * Validates the configuration once and returns a frozen, fully defaulted copy. Every bad field
 * is named in one `ConfigError` (`SWB_CONFIG_INVALID`), paths as in the worker's config
 * (`blob.s3.bucket`).
 */
export function resolveBlobConfig(config: BlobStoreConfig): ResolvedBlobConfig {
  const issues = new OptionIssues('blob');
  if (typeof config !== 'object' || (config as unknown) === null) {
    issues.add('driver', 'expected a configuration object with a driver');
    throw new ConfigError(issues.list);
  }
  const driver = config.driver as unknown;
  if (driver === 'posix') {
    const root = optionalStringOption(issues, 'root', config.root);
    if (config.root === undefined) issues.add('root', 'is required when blob.driver is "posix"');
    else if (root !== undefined && !isAbsolute(root)) {
      issues.add('root', 'expected an absolute path', root);
    }
    const fsync = booleanOption(issues, 'fsync', config.fsync, blobDefaults.fsync);
    let signing: ResolvedPosixConfig['signing'];
    if (config.signing !== undefined) {
      const baseUrl = optionalStringOption(issues, 'signing.baseUrl', config.signing.baseUrl);
      const secret = optionalSecretOption(issues, 'signing.secret', config.signing.secret);
      if (baseUrl !== undefined && !/^https?:\/\/[^/]/.test(baseUrl)) {
        issues.add('signing.baseUrl', 'expected an http(s) URL', baseUrl);
      }
      if (baseUrl === undefined) issues.add('signing.baseUrl', 'is required with signing');
      if (secret === undefined) issues.add('signing.secret', 'is required with signing');
      if (baseUrl !== undefined && secret !== undefined) {
        signing = Object.freeze({ baseUrl: baseUrl.replace(/\/+$/, ''), secret });
      }
    }
    if (issues.list.length > 0 || root === undefined) throw new ConfigError(issues.list);
    return Object.freeze({ driver: 'posix', root: resolve(root), fsync, signing });
  }
  if (driver === 's3') {
    const s3: S3BlobConfig = config.s3 ?? {};
    const endpoint = optionalStringOption(issues, 's3.endpoint', s3.endpoint);
    if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
      issues.add('s3.endpoint', 'expected an http(s) URL', endpoint);
    }
    const region = optionalStringOption(issues, 's3.region', s3.region);
    if (s3.region === undefined) issues.add('s3.region', 'is required when blob.driver is "s3"');
    const bucket = optionalStringOption(issues, 's3.bucket', s3.bucket);
    if (s3.bucket === undefined) issues.add('s3.bucket', 'is required when blob.driver is "s3"');
    else if (bucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      issues.add('s3.bucket', 'expected a bucket name: 3–63 of [a-z0-9.-]', bucket);
    }
    const accessKeyId = optionalStringOption(issues, 's3.accessKeyId', s3.accessKeyId);
    const secretAccessKey = optionalSecretOption(issues, 's3.secretAccessKey', s3.secretAccessKey);
    const sessionToken = optionalSecretOption(issues, 's3.sessionToken', s3.sessionToken);
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      issues.add(
        accessKeyId === undefined ? 's3.accessKeyId' : 's3.secretAccessKey',
        'is required with the other half of the key pair',
      );
    }
    const partSize = integerOption(
      issues,
      's3.partSize',
      s3.partSize,
      blobDefaults.partSize,
      5 * MiB,
      5 * 1024 * MiB,
    );
    const multipartThreshold = integerOption(
      issues,
      's3.multipartThreshold',
      s3.multipartThreshold,
      Math.max(blobDefaults.multipartThreshold, partSize),
      partSize,
      5 * 1024 * MiB,
    );
    const resolved: ResolvedS3Config = {
      driver: 's3',
      endpoint,
      region: region ?? '',
      bucket: bucket ?? '',
      credentials:
        accessKeyId !== undefined && secretAccessKey !== undefined
          ? Object.freeze({ accessKeyId, secretAccessKey, sessionToken })
          : undefined,
      forcePathStyle: booleanOption(
        issues,
        's3.forcePathStyle',
        s3.forcePathStyle,
        blobDefaults.forcePathStyle,
      ),
      requestChecksumCalculation: checksumMode(
        issues,
        's3.requestChecksumCalculation',
        s3.requestChecksumCalculation,
      ),
      responseChecksumValidation: checksumMode(
        issues,
        's3.responseChecksumValidation',
        s3.responseChecksumValidation,
      ),
      multipartThreshold,
      partSize,
      queueSize: integerOption(issues, 's3.queueSize', s3.queueSize, blobDefaults.queueSize, 1, 64),
      maxAttempts: integerOption(
        issues,
        's3.maxAttempts',
        s3.maxAttempts,
        blobDefaults.maxAttempts,
        1,
        20,
      ),
      connectTimeoutMs: integerOption(
        issues,
        's3.connectTimeoutMs',
        s3.connectTimeoutMs,
        blobDefaults.connectTimeoutMs,
        1,
        600_000,
      ),
      idleTimeoutMs: integerOption(
        issues,
        's3.idleTimeoutMs',
        s3.idleTimeoutMs,
        blobDefaults.idleTimeoutMs,
        1,
        3_600_000,
      ),
      requestTimeoutMs: integerOption(
        issues,
        's3.requestTimeoutMs',
        s3.requestTimeoutMs,
        blobDefaults.requestTimeoutMs,
        1,
        3_600_000,
      ),
      maxSockets: integerOption(
        issues,
        's3.maxSockets',
        s3.maxSockets,
        blobDefaults.maxSockets,
        1,
        4096,
      ),
      conditionalWrites: booleanOption(
        issues,
        's3.conditionalWrites',
        s3.conditionalWrites,
        blobDefaults.conditionalWrites,
      ),
    };
    if (issues.list.length > 0) throw new ConfigError(issues.list);
    return Object.freeze(resolved);
  }
  issues.add('driver', 'expected "posix" or "s3"', driver);
  throw new ConfigError(issues.list);
}
