import { randomBytes } from 'node:crypto';
import { createReadStream, constants } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Disk } from 'flydrive';
import { FSDriver } from 'flydrive/drivers/fs';
import { S3Driver } from 'flydrive/drivers/s3';
import { uniqueName } from '@switchboard/sandbox/testing';
import { createBlobStore } from '@switchboard/storage';
import { Better, type BenchBaseline, type BenchCase, type BenchSuite } from '../harness.js';
import { mibPerSecond, opsPerSecond } from '../measure.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Reads a stream to its end without keeping the bytes. */
async function drain(body: Readable): Promise<void> {
  await finished(body.resume());
}

/**
 * The raw-fs baseline's write: the same durability as the store's (temp file in the same
 * directory, fsync, rename, fsync of the directory), without header, checksum or key checks.
 */
async function rawFsPut(path: string, data: Buffer): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'wx');
  try {
    await handle.write(data, 0, data.length, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

interface Sized {
  readonly label: string;
  readonly bytes: number;
}

const posixSizes: readonly Sized[] = [
  { label: '4KiB', bytes: 4 * KiB },
  { label: '1MiB', bytes: MiB },
  { label: '64MiB', bytes: 64 * MiB },
];
const s3Sizes: readonly Sized[] = [
  { label: '1MiB', bytes: MiB },
  { label: '64MiB', bytes: 64 * MiB },
];

/**
 * Blob storage: the store's put and get against plain fs streams with the same fsyncs, flydrive's
 * fs driver, the bare AWS SDK and flydrive's S3 driver, on the sandbox's s3rver.
 */
export const blobSuite: BenchSuite = {
  name: 'blob',
  description: 'blob store put/get: POSIX vs raw fs and flydrive; S3 vs the bare SDK and flydrive',
  async setup(context) {
    const info = await context.sandbox();
    const root = await mkdtemp(join(tmpdir(), 'swb-bench-blob-'));
    const data = new Map<number, Buffer>(
      [...posixSizes, ...s3Sizes].map((s) => [s.bytes, randomBytes(s.bytes)]),
    );
    const bytesOf = (size: Sized): Buffer => data.get(size.bytes) ?? Buffer.alloc(size.bytes);

    const store = createBlobStore({ driver: 'posix', root: join(root, 'store') });
    const rawRoot = join(root, 'raw');
    await mkdir(rawRoot, { recursive: true });
    const flyFs = new Disk(
      new FSDriver({ location: join(root, 'flydrive'), visibility: 'private' }),
    );

    const bucket = uniqueName('bench');
    const s3Options = {
      endpoint: info.s3.endpoint,
      region: info.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: info.s3.accessKeyId, secretAccessKey: info.s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    } as const;
    const raw = new S3Client(s3Options);
    await raw.send(new CreateBucketCommand({ Bucket: bucket }));
    const s3Store = createBlobStore({
      driver: 's3',
      s3: { ...info.s3, bucket },
    });
    const flyS3 = new Disk(
      new S3Driver({ ...s3Options, bucket, visibility: 'private', supportsACL: false }),
    );

    const measure = (size: Sized, operation: () => Promise<unknown>) => async () =>
      size.bytes < 64 * KiB
        ? opsPerSecond(operation, { durationMs: context.sampleMs, concurrency: 1 })
        : mibPerSecond(size.bytes, operation, { minMs: context.sampleMs, minIterations: 2 });
    const unitOf = (size: Sized): string => (size.bytes < 64 * KiB ? 'ops/s' : 'MiB/s');

    const cases: BenchCase[] = [];
    for (const size of posixSizes) {
      const body = bytesOf(size);
      const key = `objects/${size.label}.bin`;
      const rawPath = join(rawRoot, `${size.label}.bin`);
      const fsGoal = size.bytes < MiB ? 0.8 : 0.9;
      // Every side reads what it wrote itself, so the get cases need their object first.
      await store.put(key, body);
      await rawFsPut(rawPath, body);
      await flyFs.put(key, body);
      const putBaselines: BenchBaseline[] = [
        { name: 'raw-fs', goal: fsGoal, sample: measure(size, () => rawFsPut(rawPath, body)) },
        { name: 'flydrive', goal: 1.0, sample: measure(size, () => flyFs.put(key, body)) },
      ];
      cases.push({
        name: `posix-put-${size.label}`,
        unit: unitOf(size),
        better: Better.Higher,
        sample: measure(size, () => store.put(key, body)),
        baselines: putBaselines,
      });
      cases.push({
        name: `posix-get-${size.label}`,
        unit: unitOf(size),
        better: Better.Higher,
        sample: measure(size, async () => drain((await store.get(key)).body)),
        baselines: [
          {
            name: 'raw-fs',
            goal: fsGoal,
            sample: measure(size, () => drain(createReadStream(rawPath))),
          },
          {
            name: 'flydrive',
            goal: 1.0,
            sample: measure(size, async () => drain(await flyFs.getStream(key))),
          },
        ],
      });
    }
    for (const size of s3Sizes) {
      const body = bytesOf(size);
      const key = `objects/${size.label}.bin`;
      const rawKey = `raw/${size.label}.bin`;
      const flyKey = `flydrive/${size.label}.bin`;
      await s3Store.put(key, body);
      await raw.send(new PutObjectCommand({ Bucket: bucket, Key: rawKey, Body: body }));
      await flyS3.put(flyKey, body);
      cases.push({
        name: `s3-put-${size.label}`,
        unit: unitOf(size),
        better: Better.Higher,
        sample: measure(size, () => s3Store.put(key, body)),
        baselines: [
          {
            name: 'raw-s3',
            goal: 0.95,
            sample: measure(size, () =>
              raw.send(new PutObjectCommand({ Bucket: bucket, Key: rawKey, Body: body })),
            ),
          },
          { name: 'flydrive', goal: 1.0, sample: measure(size, () => flyS3.put(flyKey, body)) },
        ],
      });
      cases.push({
        name: `s3-get-${size.label}`,
        unit: unitOf(size),
        better: Better.Higher,
        sample: measure(size, async () => drain((await s3Store.get(key)).body)),
        baselines: [
          {
            name: 'raw-s3',
            goal: 0.95,
            sample: measure(size, async () => {
              const result = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: rawKey }));
              await drain(result.Body as Readable);
            }),
          },
          {
            name: 'flydrive',
            goal: 1.0,
            sample: measure(size, async () => drain(await flyS3.getStream(flyKey))),
          },
        ],
      });
    }

    return {
      cases,
      async close() {
        await store.close();
        await s3Store.close();
        const listed = await raw.send(new ListObjectsCommand({ Bucket: bucket }));
        for (const object of listed.Contents ?? []) {
          await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
        }
        await raw.send(new DeleteBucketCommand({ Bucket: bucket }));
        raw.destroy();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
};
