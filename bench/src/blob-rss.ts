// `node bench/dist/blob-rss.js [posix] [s3]`: streams 1 GiB through the blob store's put, then
// get, and prints how much the process's RSS grew above where it started (the bound:
// under 64 MiB). Each backend runs in this one process, one after the other.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { up } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import { createBlobStore, type BlobStore } from '@switchboard/storage';

const MiB = 1024 * 1024;
const total = 1024 * MiB;

/** 1 GiB of a reused 1 MiB chunk: the source itself allocates nothing as it streams. */
function source(): Readable {
  const chunk = Buffer.alloc(MiB, 0x5a);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) this.push(null);
      else {
        sent += chunk.length;
        this.push(chunk);
      }
    },
  });
}

async function peakDuring(task: () => Promise<void>): Promise<number> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  try {
    await task();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage.rss());
}

async function measure(name: string, store: BlobStore): Promise<void> {
  // Warm the code paths (JIT, the SDK's lazy modules) so the baseline includes them.
  await store.put('warm', Buffer.alloc(MiB));
  await finished((await store.get('warm')).body.resume());
  const before = process.memoryUsage.rss();
  const started = performance.now();
  const putPeak = await peakDuring(async () => {
    await store.put('rss/1GiB.bin', source());
  });
  const putSeconds = (performance.now() - started) / 1000;
  const getStarted = performance.now();
  const beforeGet = process.memoryUsage.rss();
  const getPeak = await peakDuring(async () => {
    const { body } = await store.get('rss/1GiB.bin', { verify: true });
    await finished(body.resume());
  });
  const getSeconds = (performance.now() - getStarted) / 1000;
  const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
  console.log(
    `${name}: RSS before ${mib(before)} MiB; put 1 GiB peak +${mib(putPeak - before)} MiB ` +
      `(${(1024 / putSeconds).toFixed(0)} MiB/s); get 1 GiB (verified) peak +${mib(getPeak - before)} MiB ` +
      `from the start, +${mib(getPeak - beforeGet)} MiB from the get's own start ` +
      `(${(1024 / getSeconds).toFixed(0)} MiB/s)`,
  );
  await store.delete('rss/1GiB.bin');
  await store.delete('warm');
}

const which = process.argv.slice(2);
const run = (name: string): boolean => which.length === 0 || which.includes(name);

if (run('posix')) {
  const root = await mkdtemp(join(tmpdir(), 'swb-blob-rss-'));
  const store = createBlobStore({ driver: 'posix', root });
  try {
    await measure('posix', store);
  } finally {
    await store.close();
    await rm(root, { recursive: true, force: true });
  }
}
if (run('s3')) {
  const info = await up({});
  const bucket = uniqueName('rss');
  const admin = new S3Client({
    endpoint: info.s3.endpoint,
    region: info.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.s3.accessKeyId, secretAccessKey: info.s3.secretAccessKey },
  });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = createBlobStore({ driver: 's3', s3: { ...info.s3, bucket } });
  try {
    await measure('s3', store);
  } finally {
    await store.close();
    await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'rss/1GiB.bin' }));
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
  }
}
