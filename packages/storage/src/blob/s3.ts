import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable, addAbortSignal, pipeline } from 'node:stream';
import { transientNetworkCodes } from '@switchboard/runtime';
import {
  BaseBlobStore,
  encodeCursor,
  forEachLimit,
  type CheckedGet,
  type CheckedList,
  type CheckedPresign,
  type CheckedPut,
} from './base.js';
import { createChecksum, sameChecksum, verifyingStream } from './checksum.js';
import type { ResolvedS3Config } from './config.js';
import {
  BlobChecksumMismatchError,
  BlobError,
  BlobInvalidArgumentError,
  BlobNotFoundError,
  BlobPreconditionFailedError,
  BlobUnavailableError,
  BlobUnsupportedError,
} from './errors.js';
import { compareKeys, maxKeyBytes } from './keys.js';
import { encodeKeyPath } from './presign.js';
import type {
  BlobCapabilities,
  CleanupOptions,
  BlobInfo,
  BlobMetadata,
  GetResult,
  ListPage,
  PutResult,
} from './types.js';

/** The user-metadata key (`x-amz-meta-swb-sha256`) that holds the checksum. */
export const checksumMetadataKey = 'swb-sha256';

const transientNames = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'AbortError',
]);
// The runtime's transient socket errors, and a failed DNS lookup, which an endpoint that is
// restarting (a container being rescheduled) answers for a moment.
const transientCodes: ReadonlySet<string> = new Set([...transientNetworkCodes, 'ENOTFOUND']);

/** SDK and socket errors to blob errors; a blob error passes through. */
export function mapS3Error(err: unknown, key: string): BlobError {
  if (err instanceof BlobError) return err;
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const name = err instanceof Error ? err.name : '';
  const code = (err as { code?: unknown } | null)?.code;
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound') {
    if (name === 'NoSuchBucket') {
      return new BlobError('BackendError', `S3 bucket does not exist (${key})`, {
        cause: err,
        key,
      });
    }
    return new BlobNotFoundError(key, { cause: err });
  }
  if (status === 412 || name === 'PreconditionFailed') return new BlobPreconditionFailedError(key);
  if (status === 416 || name === 'InvalidRange') {
    return new BlobInvalidArgumentError(`range not satisfiable on ${JSON.stringify(key)}`, {
      cause: err,
      key,
    });
  }
  if (
    (status !== undefined && (status >= 500 || status === 429)) ||
    transientNames.has(name) ||
    (typeof code === 'string' && transientCodes.has(code))
  ) {
    return new BlobUnavailableError(
      `S3 unavailable on ${JSON.stringify(key)}: ${name} ${err instanceof Error ? err.message : ''}`.trim(),
      { cause: err, key },
    );
  }
  return new BlobError(
    'BackendError',
    `S3 error on ${JSON.stringify(key)}: ${name}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err, key },
  );
}

function splitMetadata(raw: Record<string, string> | undefined): {
  metadata: BlobMetadata;
  sha256: string | undefined;
} {
  const metadata: Record<string, string> = {};
  let sha256: string | undefined;
  for (const [name, value] of Object.entries(raw ?? {})) {
    const lower = name.toLowerCase();
    if (lower === checksumMetadataKey) sha256 = value;
    else if (!lower.startsWith('swb-')) metadata[lower] = value;
  }
  return { metadata: Object.freeze(metadata), sha256 };
}

export interface S3BlobStoreDeps {
  /** A client of your own (tests add middleware); the store then never destroys it. */
  readonly client?: S3Client;
}

/** The S3 backend over @aws-sdk/client-s3 (see README for the upload strategy). */
export class S3BlobStore extends BaseBlobStore {
  readonly capabilities: BlobCapabilities;
  readonly client: S3Client;
  readonly #config: ResolvedS3Config;
  readonly #ownsClient: boolean;

  constructor(config: ResolvedS3Config, deps: S3BlobStoreDeps = {}) {
    super();
    this.#config = config;
    this.#ownsClient = deps.client === undefined;
    this.client =
      deps.client ??
      new S3Client({
        region: config.region,
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        forcePathStyle: config.forcePathStyle,
        ...(config.credentials === undefined
          ? {}
          : {
              credentials: {
                accessKeyId: config.credentials.accessKeyId,
                secretAccessKey: config.credentials.secretAccessKey.reveal(),
                ...(config.credentials.sessionToken === undefined
                  ? {}
                  : { sessionToken: config.credentials.sessionToken.reveal() }),
              },
            }),
        requestChecksumCalculation: config.requestChecksumCalculation,
        responseChecksumValidation: config.responseChecksumValidation,
        // The SDK's standard mode retries 5xx, throttling and connection errors with exponential
        // backoff and full jitter; every body this store sends is a Buffer, so it can be resent.
        maxAttempts: config.maxAttempts,
        retryMode: 'standard',
        requestHandler: {
          connectionTimeout: config.connectTimeoutMs,
          requestTimeout: config.idleTimeoutMs,
          httpAgent: { keepAlive: true, maxSockets: config.maxSockets },
          httpsAgent: { keepAlive: true, maxSockets: config.maxSockets },
        },
      });
    this.capabilities = Object.freeze({
      backend: 's3',
      rangeRead: true,
      userMetadata: true,
      checksum: 'sha256',
      list: Object.freeze({ recursive: true, delimited: true, paginated: true }),
      conditionalCreate: config.conditionalWrites ? 'atomic' : 'best-effort',
      multipart: true,
      presign: Object.freeze({ get: true, put: true }),
      copy: 'server-side',
      atomicMove: false,
      batchDelete: true,
      maxKeyBytes,
    } as const);
  }

  get bucket(): string {
    return this.#config.bucket;
  }

  /** A deadline for calls whose duration does not grow with the object. */
  #deadline(signal?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.#config.requestTimeoutMs);
    return signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
  }

  protected async putChecked(request: CheckedPut): Promise<PutResult> {
    const { key, source, contentType, metadata, expected, ifNoneMatch, signal } = request;
    try {
      signal?.throwIfAborted();
      // Fails fast before any upload; the If-None-Match header makes it atomic where supported.
      if (ifNoneMatch && (await this.#exists(key))) throw new BlobPreconditionFailedError(key);
      const common = { key, contentType, metadata, expected, ifNoneMatch, signal };
      if (source.kind === 'bytes') {
        const sha256 = createChecksum().update(source.bytes).digest('hex');
        if (expected !== undefined && !sameChecksum(expected, sha256)) {
          throw new BlobChecksumMismatchError(key, expected, sha256);
        }
        if (source.bytes.length <= this.#config.multipartThreshold) {
          await this.#putObject(common, source.bytes, sha256);
        } else {
          await this.#multipart(common, sliceParts(source.bytes, this.#config.partSize), sha256);
        }
        return { key, size: source.bytes.length, sha256 };
      }
      // A stream: read up to one part; if it ends there, one PutObject with a known length (never
      // the SDK's aws-chunked streaming upload), otherwise multipart from what was read, so at
      // most (queueSize + 1) parts are in memory whatever the stream's length.
      const hash = createChecksum();
      const iterator = source.chunks[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let headBytes = 0;
      let ended = false;
      while (headBytes <= this.#config.partSize) {
        const next = await iterator.next();
        if (next.done === true) {
          ended = true;
          break;
        }
        hash.update(next.value);
        head.push(next.value);
        headBytes += next.value.length;
      }
      if (ended) {
        const sha256 = hash.digest('hex');
        if (expected !== undefined && !sameChecksum(expected, sha256)) {
          throw new BlobChecksumMismatchError(key, expected, sha256);
        }
        await this.#putObject(common, Buffer.concat(head, headBytes), sha256);
        return { key, size: headBytes, sha256 };
      }
      let size = 0;
      const parts = rechunk(
        (async function* () {
          yield* head;
          for (;;) {
            const next = await iterator.next();
            if (next.done === true) return;
            hash.update(next.value);
            yield next.value;
          }
        })(),
        this.#config.partSize,
        new PartPool(this.#config.queueSize + 1, this.#config.partSize),
        (n) => (size += n),
      );
      let digest: string | undefined;
      await this.#multipart(common, parts, expected, () => {
        digest = hash.digest('hex');
        if (expected !== undefined && !sameChecksum(expected, digest)) {
          throw new BlobChecksumMismatchError(key, expected, digest);
        }
        return digest;
      });
      return { key, size, sha256: digest ?? '' };
    } catch (err) {
      if (source.kind === 'stream') source.dispose();
      throw mapS3Error(err, key);
    }
  }

  async #putObject(common: PutCommon, bytes: Buffer, sha256: string): Promise<void> {
    const command = new PutObjectCommand({
      Bucket: this.#config.bucket,
      Key: common.key,
      Body: bytes,
      ContentLength: bytes.length,
      ContentType: common.contentType,
      Metadata: { ...common.metadata, [checksumMetadataKey]: sha256 },
      ...(common.ifNoneMatch && this.#config.conditionalWrites ? { IfNoneMatch: '*' } : {}),
    });
    // SigV4 signs the payload's SHA-256 (x-amz-content-sha256) and the SDK would hash the body
    // again to get it: hand it the one already computed. The server checks it against the bytes
    // it receives, so a body damaged in transit is refused.
    command.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] =
          sha256;
        return next(args);
      },
      { step: 'build', name: 'swbPayloadSha256' },
    );
    await this.client.send(
      command,
      common.signal === undefined ? {} : { abortSignal: common.signal },
    );
  }

  /**
   * Uploads `parts` with at most `queueSize` in flight, so memory stays near
   * (queueSize + 1) × partSize. Any failure aborts the upload: no parts are left behind.
   * `knownSha256` goes into the metadata at creation; otherwise `finish` gives it after the last
   * part and a server-side self-copy stores it (S3 cannot add metadata to an upload later).
   */
  async #multipart(
    common: PutCommon,
    parts: AsyncIterable<Part> | Iterable<Part>,
    knownSha256: string | undefined,
    finish?: () => string,
  ): Promise<void> {
    const bucket = this.#config.bucket;
    const created = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: common.key,
        ContentType: common.contentType,
        Metadata: {
          ...common.metadata,
          ...(knownSha256 === undefined ? {} : { [checksumMetadataKey]: knownSha256 }),
        },
      }),
      { abortSignal: this.#deadline(common.signal) },
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) throw new BlobError('BackendError', 'S3 gave no UploadId');
    const completed: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      let number = 0;
      for await (const part of parts) {
        common.signal?.throwIfAborted();
        if (failure !== undefined) break;
        const partNumber = ++number;
        const sending: Promise<void> = this.client
          .send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: common.key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: part.body,
              ContentLength: part.body.length,
            }),
            common.signal === undefined ? {} : { abortSignal: common.signal },
          )
          .then(
            (result) => {
              completed.push({ PartNumber: partNumber, ETag: result.ETag });
              part.release?.();
            },
            (error: unknown) => {
              // Recorded, and rethrown by the loop below: the upload is then aborted.
              failure ??= { error };
              part.release?.();
            },
          )
          .finally(() => inFlight.delete(sending));
        inFlight.add(sending);
        if (inFlight.size >= this.#config.queueSize) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure.error;
      if (number === 0) {
        throw new BlobError('BackendError', 'multipart upload without parts');
      }
      const sha256 = knownSha256 ?? finish?.();
      completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: common.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
          ...(common.ifNoneMatch && this.#config.conditionalWrites ? { IfNoneMatch: '*' } : {}),
        }),
        { abortSignal: this.#deadline(common.signal) },
      );
      if (knownSha256 === undefined && sha256 !== undefined) {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: common.key,
            CopySource: `${bucket}/${encodeKeyPath(common.key)}`,
            MetadataDirective: 'REPLACE',
            ContentType: common.contentType,
            Metadata: { ...common.metadata, [checksumMetadataKey]: sha256 },
          }),
          { abortSignal: this.#deadline() },
        );
      }
    } catch (err) {
      await Promise.allSettled(inFlight);
      await this.#abort(common.key, uploadId, err);
      throw err;
    }
  }

  async #abort(key: string, uploadId: string, reason: unknown): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.#config.bucket,
          Key: key,
          UploadId: uploadId,
        }),
        { abortSignal: this.#deadline() },
      );
    } catch (abortError) {
      // The upload's own failure is what the caller must see; the abort's failure rides along so
      // an operator can find the upload (`cleanup()` removes it later on servers that list them).
      if (reason instanceof Error) {
        Object.defineProperty(reason, 'abortError', { value: abortError, enumerable: false });
      }
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.#config.bucket, Key: key }), {
        abortSignal: this.#deadline(),
      });
      return true;
    } catch (err) {
      const mapped = mapS3Error(err, key);
      if (mapped.kind === 'NotFound') return false;
      throw mapped;
    }
  }

  protected async getChecked(request: CheckedGet): Promise<GetResult> {
    const { key, range, verify, signal } = request;
    try {
      const result = await this.client.send(
        new GetObjectCommand({
          Bucket: this.#config.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end ?? ''}` }),
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      const { metadata, sha256 } = splitMetadata(result.Metadata);
      let size = result.ContentLength ?? 0;
      let served: { start: number; end: number } | undefined;
      if (range !== undefined) {
        const match = /bytes (\d+)-(\d+)\/(\d+)/.exec(result.ContentRange ?? '');
        if (match !== null) {
          served = { start: Number(match[1]), end: Number(match[2]) };
          size = Number(match[3]);
        } else {
          served = { start: 0, end: size - 1 };
        }
      }
      const info: BlobInfo = {
        key,
        size,
        contentType: result.ContentType ?? 'application/octet-stream',
        metadata,
        sha256,
        modified: result.LastModified ?? new Date(0),
        etag: result.ETag,
      };
      let body: Readable = result.Body instanceof Readable ? result.Body : Readable.from([]);
      if (verify) {
        if (sha256 === undefined) {
          body.destroy();
          throw new BlobChecksumMismatchError(key, undefined, undefined);
        }
        // pipeline destroys every stream with the first error; the verifier the caller reads
        // carries it, so the callback has nothing left to do.
        body = pipeline(body, verifyingStream(key, sha256), () => undefined);
      }
      if (signal !== undefined) addAbortSignal(signal, body);
      return { info, body, range: served };
    } catch (err) {
      throw mapS3Error(err, key);
    }
  }

  protected async headChecked(key: string): Promise<BlobInfo> {
    try {
      const result = await this.client.send(
        new HeadObjectCommand({ Bucket: this.#config.bucket, Key: key }),
        { abortSignal: this.#deadline() },
      );
      const { metadata, sha256 } = splitMetadata(result.Metadata);
      return {
        key,
        size: result.ContentLength ?? 0,
        contentType: result.ContentType ?? 'application/octet-stream',
        metadata,
        sha256,
        modified: result.LastModified ?? new Date(0),
        etag: result.ETag,
      };
    } catch (err) {
      throw mapS3Error(err, key);
    }
  }

  protected async existsChecked(key: string): Promise<boolean> {
    return this.#exists(key);
  }

  protected async deleteChecked(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.#config.bucket, Key: key }), {
        abortSignal: this.#deadline(),
      });
    } catch (err) {
      const mapped = mapS3Error(err, key);
      if (mapped.kind !== 'NotFound') throw mapped;
    }
  }

  protected async deleteManyChecked(keys: readonly string[]): Promise<void> {
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 1000) batches.push(keys.slice(i, i + 1000));
    await forEachLimit(batches, 4, async (batch) => {
      try {
        const result = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.#config.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: this.#deadline() },
        );
        const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        const first = failed[0];
        if (first !== undefined) {
          throw new BlobError(
            'BackendError',
            `S3 refused to delete ${failed.length} of ${batch.length} keys, first ${JSON.stringify(first.Key)}: ${first.Code ?? ''} ${first.Message ?? ''}`,
            first.Key === undefined ? {} : { key: first.Key },
          );
        }
      } catch (err) {
        throw mapS3Error(err, batch[0] ?? '');
      }
    });
  }

  /**
   * ListObjects (V1, with a marker) rather than V2: V2's continuation token is opaque to us, and
   * s3rver builds it with DES, which OpenSSL 3 refuses (every truncated V2 listing then fails with
   * InternalError). V1 is served by AWS, MinIO, R2, B2 and s3rver alike; the cursor is the marker.
   */
  protected async listChecked(request: CheckedList): Promise<ListPage> {
    const { prefix, limit, after: marker, recursive } = request;
    try {
      const result = await this.client.send(
        new ListObjectsCommand({
          Bucket: this.#config.bucket,
          MaxKeys: limit,
          ...(prefix === '' ? {} : { Prefix: prefix }),
          ...(recursive ? {} : { Delimiter: '/' }),
          ...(marker === undefined ? {} : { Marker: marker }),
        }),
        { abortSignal: this.#deadline() },
      );
      const objects = (result.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        modified: o.LastModified ?? new Date(0),
      }));
      const prefixes = (result.CommonPrefixes ?? []).map((p) => p.Prefix ?? '');
      let next: string | undefined;
      if (result.IsTruncated === true) {
        // NextMarker comes only with a delimiter; otherwise the last key is the marker.
        next =
          result.NextMarker ??
          [objects.at(-1)?.key, prefixes.at(-1)]
            .filter((k) => k !== undefined)
            .sort(compareKeys)
            .at(-1);
      }
      return { objects, prefixes, cursor: next === undefined ? undefined : encodeCursor(next) };
    } catch (err) {
      throw mapS3Error(err, prefix);
    }
  }

  protected async copyChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void> {
    if (ifNoneMatch && (await this.#exists(destination))) {
      throw new BlobPreconditionFailedError(destination);
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.#config.bucket,
          Key: destination,
          CopySource: `${this.#config.bucket}/${encodeKeyPath(source)}`,
          MetadataDirective: 'COPY',
        }),
        { abortSignal: this.#deadline() },
      );
    } catch (err) {
      throw mapS3Error(err, source);
    }
  }

  protected async moveChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void> {
    // S3 has no rename: copy, then delete the source (capabilities.atomicMove is false).
    await this.copyChecked(source, destination, ifNoneMatch);
    await this.deleteChecked(source);
  }

  protected async presignChecked(request: CheckedPresign): Promise<string> {
    const { key, method, seconds: expiresIn, contentType } = request;
    const command =
      method === 'GET'
        ? new GetObjectCommand({ Bucket: this.#config.bucket, Key: key })
        : new PutObjectCommand({
            Bucket: this.#config.bucket,
            Key: key,
            ...(contentType === undefined ? {} : { ContentType: contentType }),
          });
    return getSignedUrl(this.client, command, { expiresIn });
  }

  async cleanup(options: CleanupOptions = {}): Promise<{ readonly removed: number }> {
    this.assertOpen();
    const cutoff = Date.now() - (options.olderThanMs ?? 24 * 3600 * 1000);
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.#config.bucket,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
          }),
          { abortSignal: this.#deadline() },
        );
      } catch (err) {
        const mapped = mapS3Error(err, '');
        if (err instanceof Error && err.name === 'NotImplemented') {
          throw new BlobUnsupportedError('cleanup: this S3 server does not list multipart uploads');
        }
        throw mapped;
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        if ((upload.Initiated?.getTime() ?? 0) > cutoff) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.#config.bucket,
            Key: upload.Key,
            UploadId: upload.UploadId,
          }),
          { abortSignal: this.#deadline() },
        );
        removed++;
      }
      if (page.IsTruncated !== true) return { removed };
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  protected release(): Promise<void> {
    if (this.#ownsClient) this.client.destroy();
    return Promise.resolve();
  }
}

interface PutCommon {
  readonly key: string;
  readonly contentType: string;
  readonly metadata: BlobMetadata;
  readonly expected: string | undefined;
  readonly ifNoneMatch: boolean;
  readonly signal: AbortSignal | undefined;
}

/** One part of a multipart upload; `release` hands its buffer back once the part is sent. */
interface Part {
  readonly body: Buffer;
  readonly release?: () => void;
}

function* sliceParts(bytes: Buffer, partSize: number): Iterable<Part> {
  for (let offset = 0; offset < bytes.length; offset += partSize) {
    yield { body: bytes.subarray(offset, offset + partSize) };
  }
}

/**
 * A fixed set of part buffers reused from part to part: a long upload allocates nothing more,
 * so memory stays at (queueSize + 1) × partSize instead of growing with garbage the collector
 * has not reached yet.
 */
class PartPool {
  readonly #free: Buffer[] = [];
  readonly #waiting: ((buffer: Buffer) => void)[] = [];

  constructor(count: number, size: number) {
    for (let i = 0; i < count; i++) this.#free.push(Buffer.allocUnsafeSlow(size));
  }

  acquire(): Promise<Buffer> {
    const buffer = this.#free.pop();
    return buffer !== undefined
      ? Promise.resolve(buffer)
      : new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(buffer: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) waiter(buffer);
    else this.#free.push(buffer);
  }
}

/** Copies a stream's chunks into pooled parts of exactly `partSize` bytes (the last one smaller). */
async function* rechunk(
  chunks: AsyncIterable<Buffer>,
  partSize: number,
  pool: PartPool,
  count: (bytes: number) => void,
): AsyncIterable<Part> {
  let current = await pool.acquire();
  let filled = 0;
  const emit = (buffer: Buffer, length: number): Part => ({
    body: length === buffer.length ? buffer : buffer.subarray(0, length),
    release: () => {
      pool.release(buffer);
    },
  });
  for await (const chunk of chunks) {
    count(chunk.length);
    let offset = 0;
    while (offset < chunk.length) {
      const copied = chunk.copy(current, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === partSize) {
        yield emit(current, filled);
        current = await pool.acquire();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield emit(current, filled);
  else pool.release(current);
}
