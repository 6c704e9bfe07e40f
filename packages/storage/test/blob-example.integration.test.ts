import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { uniqueName } from '@switchboard/sandbox/testing';
import { expect, inject, it } from 'vitest';
import { blobExample } from '../examples/blob.js';

it('runs the README example on a POSIX directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-blob-example-'));
  try {
    const spool = join(dir, 'spool.wav');
    await writeFile(spool, Buffer.alloc(100_000, 1));
    expect(await blobExample({ driver: 'posix', root: join(dir, 'blobs') }, spool)).toEqual([
      'vm/alice/0001.wav 100000',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('runs the README example on the sandbox S3 server', async () => {
  const { s3 } = inject('sandbox');
  const bucket = uniqueName('blobex');
  const admin = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const dir = await mkdtemp(join(tmpdir(), 'swb-blob-example-'));
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    const spool = join(dir, 'spool.wav');
    await writeFile(spool, Buffer.alloc(100_000, 1));
    const config = {
      driver: 's3',
      s3: { ...s3, bucket, conditionalWrites: false },
    } as const;
    expect(await blobExample(config, spool)).toEqual(['vm/alice/0001.wav 100000']);
  } finally {
    await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'vm/alice/0001.wav' }));
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});

it('is quoted verbatim in the README', async () => {
  const [readme, example] = await Promise.all([
    readFile(new URL('../README.md', import.meta.url), 'utf8'),
    readFile(new URL('../examples/blob.ts', import.meta.url), 'utf8'),
  ]);
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
