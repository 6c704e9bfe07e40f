import { randomBytes, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createBlobStore, isBlobError, type BlobStore } from '../src/index.js';
import { blobContract } from './blob-contract.js';

const info = inject('sandbox');
const MiB = 1024 * 1024;

function adminClient(): S3Client {
  return new S3Client({
    endpoint: info.s3.endpoint,
    region: info.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.s3.accessKeyId, secretAccessKey: info.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function createBucket(): Promise<{ bucket: string; drop: () => Promise<void> }> {
  const admin = adminClient();
  const bucket = uniqueName('blob');
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    drop: async () => {
      for (;;) {
        const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
        for (const object of page.Contents ?? []) {
          await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
        }
        if (page.IsTruncated !== true) break;
      }
      await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      admin.destroy();
    },
  };
}

function s3Store(
  bucket: string,
  extra: Record<string, unknown> = {},
  client?: S3Client,
): BlobStore {
  return createBlobStore(
    {
      driver: 's3',
      s3: {
        endpoint: info.s3.endpoint,
        region: info.s3.region,
        bucket,
        accessKeyId: info.s3.accessKeyId,
        secretAccessKey: info.s3.secretAccessKey,
        forcePathStyle: true,
        // s3rver ignores If-None-Match on PUT: the store's HEAD check is what holds here.
        conditionalWrites: false,
        ...extra,
      },
    },
    client === undefined ? {} : { client },
  );
}

blobContract('s3 (s3rver)', async () => {
  const { bucket, drop } = await createBucket();
  const store = s3Store(bucket);
  return {
    store,
    dispose: async () => {
      await store.close();
      await drop();
    },
  };
});

describe('s3 blob store', () => {
  let bucket: string;
  let drop: () => Promise<void>;
  let store: BlobStore;

  beforeAll(async () => {
    ({ bucket, drop } = await createBucket());
    store = s3Store(bucket, { multipartThreshold: 5 * MiB, partSize: 5 * MiB, queueSize: 2 });
  });
  afterAll(async () => {
    await store.close();
    await drop();
  });

  it('stores a streamed upload of unknown length byte for byte, with no aws-chunked framing', async () => {
    const data = randomBytes(300_000);
    const chunks = Array.from({ length: 30 }, (_, i) =>
      data.subarray(i * 10_000, (i + 1) * 10_000),
    );
    await store.put('chunked/guard.bin', Readable.from(chunks));
    const back = await store.getBytes('chunked/guard.bin', { verify: true });
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
  });

  it('uploads large streams in parallel parts and stores their checksum', async () => {
    const data = randomBytes(12 * MiB + 12345);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 100_000) chunks.push(data.subarray(i, i + 100_000));
    const put = await store.put('multi/stream.bin', Readable.from(chunks), {
      contentType: 'audio/wav',
    });
    const sha = createHash('sha256').update(data).digest('hex');
    expect(put).toEqual({ key: 'multi/stream.bin', size: data.length, sha256: sha });
    const head = await store.head('multi/stream.bin');
    expect(head).toMatchObject({ size: data.length, sha256: sha, contentType: 'audio/wav' });
    expect((await store.getBytes('multi/stream.bin', { verify: true })).equals(data)).toBe(true);
  });

  it('uploads a large Buffer in parts with its checksum known up front', async () => {
    const data = randomBytes(11 * MiB);
    await store.put('multi/buffer.bin', data, { metadata: { a: '1' } });
    expect(await store.head('multi/buffer.bin')).toMatchObject({
      size: data.length,
      metadata: { a: '1' },
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    expect((await store.getBytes('multi/buffer.bin')).equals(data)).toBe(true);
  });

  it('aborts the multipart upload when the stream fails half-way, leaving no object', async () => {
    const sent: string[] = [];
    const client = adminClient();
    client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const recorded = s3Store(bucket, { multipartThreshold: 5 * MiB, partSize: 5 * MiB }, client);
    let pushed = 0;
    const failing = new Readable({
      read() {
        if (pushed++ < 12) this.push(randomBytes(MiB));
        else this.destroy(new Error('spool file vanished'));
      },
    });
    const error: unknown = await recorded.put('multi/failed.bin', failing).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isBlobError(error, 'InvalidArgument')).toBe(true);
    expect(sent).toContain('CreateMultipartUploadCommand');
    expect(sent).toContain('UploadPartCommand');
    // s3rver answers MethodNotAllowed to AbortMultipartUpload and does not implement
    // ListMultipartUploads; against AWS, MinIO or R2 the abort removes every part.
    expect(sent).toContain('AbortMultipartUploadCommand');
    expect(sent).not.toContain('CompleteMultipartUploadCommand');
    expect(await store.exists('multi/failed.bin')).toBe(false);
    await recorded.close();
    client.destroy();
  });

  it('presigns GET and PUT URLs that a plain HTTP client can use', async () => {
    const putUrl = await store.presign('signed/a.txt', { method: 'PUT', expiresInSeconds: 60 });
    expect((await fetch(putUrl, { method: 'PUT', body: 'via url' })).status).toBe(200);
    const getUrl = await store.presign('signed/a.txt', { method: 'GET' });
    const response = await fetch(getUrl);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('via url');
  });

  it('answers BackendUnavailable, retryable, when the server does not answer', async () => {
    const dead = createBlobStore({
      driver: 's3',
      s3: {
        endpoint: 'http://127.0.0.1:9',
        region: 'us-east-1',
        bucket: 'nothing',
        accessKeyId: 'x',
        secretAccessKey: 'y',
        forcePathStyle: true,
        maxAttempts: 2,
        connectTimeoutMs: 500,
      },
    });
    const error: unknown = await dead.head('k').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isBlobError(error, 'BackendUnavailable')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    await dead.close();
    await dead.close();
  });

  it('reports cleanup as unsupported where the server cannot list multipart uploads', async () => {
    await expect(store.cleanup()).rejects.toMatchObject({ kind: 'Unsupported' });
  });
});
