import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsRegistry, type Registry } from '@switchboard/runtime';
import { createSearch, type Search } from '@switchboard/storage';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  bulkIds,
  bulkResponse,
  createMockCluster,
  type MockCluster,
} from '../../storage/test/search-mock.js';
import {
  createTaskRegistry,
  createTaskWorker,
  platformTasks,
  taskBackoffType,
  type PlatformTaskDeps,
  type TaskWorker,
} from '../src/index.js';
import { add, cdr, createWorld, settled, type World } from './helpers.js';

const info = inject('sandbox');
let world: World;
const workers: TaskWorker[] = [];

function cluster(): MockCluster {
  const c = createMockCluster();
  c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
  c.on('GET', '/_alias/:name', () => ({ 'swb-cdr-v1': { aliases: { 'swb-cdr': {} } } }));
  c.on('PUT', '/:index', (request) => ({ acknowledged: true, index: request.path.slice(1) }));
  c.on('POST', '/:index/_bulk', (request) => bulkResponse(request));
  c.on(['GET', 'POST'], '/:index/_refresh', () => ({
    _shards: { total: 1, successful: 1, failed: 0 },
  }));
  c.on('POST', '/_aliases', () => ({ acknowledged: true }));
  return c;
}

async function start(
  overrides: Partial<PlatformTaskDeps> = {},
  metrics?: Registry,
): Promise<TaskWorker> {
  const deps: PlatformTaskDeps = {
    sql: world.sql,
    blob: world.blob,
    search: undefined,
    spoolDir: world.spoolDir,
    clock: { now: () => Date.now() },
    logger: world.logger,
    ...overrides,
  };
  const worker = createTaskWorker({
    redisUrl: world.redisUrl,
    queueName: world.queueName,
    prefix: world.prefix,
    tasks: createTaskRegistry(platformTasks(deps)),
    concurrency: 4,
    logger: world.logger,
    ...(metrics === undefined ? {} : { metrics }),
  });
  workers.push(worker);
  await worker.start();
  return worker;
}

async function count(table: string, where = '1 = 1', values: unknown[] = []): Promise<number> {
  const [rows] = await world.sql.write(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, values);
  return Number((rows as Array<{ n: unknown }>)[0]?.n);
}

async function spool(name: string, content: string | Buffer): Promise<string> {
  const path = join(world.spoolDir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
  return createHash('sha256').update(content).digest('hex');
}

beforeAll(async () => {
  world = await createWorld(info);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  await world.queue.obliterate({ force: true });
  // Each test starts from empty tables and an empty blob store.
  await world.sql.write('DELETE FROM cdr');
  await world.sql.write('DELETE FROM blob_object');
  const keys: string[] = [];
  for await (const object of world.blob.listAll()) keys.push(object.key);
  await world.blob.deleteMany(keys);
});

afterAll(async () => {
  await world.dispose();
});

describe('cdr.index', () => {
  it('writes the CDR row once and indexes it by call id, even when the job runs twice', async () => {
    const c = cluster();
    const search: Search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await start({ search });
    const record = cdr('call-twice@edge');
    const first = await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: record }));
    const second = await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: record }));
    expect(first.returnvalue).toEqual({ callId: record.callId, stored: true, indexed: true });
    expect(second.finishedOn).toBeGreaterThan(0);
    expect(await count('cdr', 'call_id = ?', [record.callId])).toBe(1);
    const [rows] = await world.sql.write('SELECT * FROM cdr WHERE call_id = ?', [record.callId]);
    expect((rows as Array<Record<string, unknown>>)[0]).toMatchObject({
      from_uri: record.from,
      start_time: '2026-11-25 10:00:00.000',
      billable_seconds: 60,
    });
    const bulks = c.requests.filter((r) => r.path.endsWith('/_bulk'));
    expect(bulks.flatMap(bulkIds)).toEqual([record.callId, record.callId]);
    expect(first.progress).toBe(100);
    await search.close();
  });

  it('stores the CDR in SQL only when search is not configured', async () => {
    await start();
    const record = cdr('call-sql-only');
    const job = await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: record }));
    expect(job.returnvalue).toEqual({ callId: record.callId, stored: true, indexed: false });
    expect(await count('cdr', 'call_id = ?', [record.callId])).toBe(1);
  });

  it('fails the job at once with the reason when search refuses the document for good', async () => {
    const c = cluster();
    c.mock.clearAll();
    c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
    c.on('GET', '/_alias/:name', () => ({ 'swb-cdr-v1': { aliases: { 'swb-cdr': {} } } }));
    c.on('POST', '/:index/_bulk', (request) =>
      bulkResponse(request, () => ({
        status: 400,
        type: 'document_parsing_exception',
        reason: 'failed to parse field [start]',
      })),
    );
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await start({ search });
    const id = await add(world.queue, 'cdr.index', { cdr: cdr('call-refused') }, { attempts: 3 });
    const job = await settled(world.queue, id);
    expect(job.failedReason).toContain('SWB_WORKER_INDEX_REJECTED');
    expect(job.failedReason).toContain('document_parsing_exception');
    expect(job.attemptsMade).toBe(1);
    await search.close();
  });
});

describe('blob.ingest', () => {
  it('moves the spool file into blob storage with its checksum, records it, then deletes the file', async () => {
    await start();
    const sha256 = await spool('pbx-1/rec-1.wav', 'RIFF recording bytes');
    const id = await add(world.queue, 'blob.ingest', {
      spoolPath: 'pbx-1/rec-1.wav',
      blobKey: 'recordings/2026/rec-1.wav',
      kind: 'recording',
      callId: 'call-1',
      contentType: 'audio/wav',
      sha256,
      retentionDays: 30,
    });
    const job = await settled(world.queue, id);
    expect(job.failedReason).toBeUndefined();
    expect(job.returnvalue).toMatchObject({
      key: 'recordings/2026/rec-1.wav',
      sha256,
      stored: true,
    });
    expect(job.progress).toBe(100);
    const info = await world.blob.head('recordings/2026/rec-1.wav');
    expect(info).toMatchObject({ sha256, size: 20, contentType: 'audio/wav' });
    const [rows] = await world.sql.write(
      'SELECT size, sha256, kind, call_id, content_type, TIMESTAMPDIFF(DAY, created_at, expires_at) AS days FROM blob_object WHERE blob_key = ?',
      ['recordings/2026/rec-1.wav'],
    );
    expect(rows).toEqual([
      {
        size: 20,
        sha256,
        kind: 'recording',
        call_id: 'call-1',
        content_type: 'audio/wav',
        days: 30,
      },
    ]);
    expect(existsSync(join(world.spoolDir, 'pbx-1/rec-1.wav'))).toBe(false);
  });

  it('finishes a half-done ingest (blob stored, no row) without a second blob or row', async () => {
    await start();
    const sha256 = await spool('rec-2.wav', 'second recording');
    // What a worker killed between the blob and the row leaves behind.
    await world.blob.put('rec/rec-2.wav', 'second recording', { ifNoneMatch: '*' });
    const payload = { spoolPath: 'rec-2.wav', blobKey: 'rec/rec-2.wav', kind: 'voicemail' };
    const job = await settled(world.queue, await add(world.queue, 'blob.ingest', payload));
    expect(job.returnvalue).toMatchObject({ sha256, stored: false });
    expect(await count('blob_object', 'blob_key = ?', ['rec/rec-2.wav'])).toBe(1);
    const listed = await world.blob.list({ prefix: 'rec/' });
    expect(listed.objects.map((o) => o.key)).toEqual(['rec/rec-2.wav']);

    // And once the spool file is gone too, running it again is a no-op success.
    const again = await settled(world.queue, await add(world.queue, 'blob.ingest', payload));
    expect(again.returnvalue).toMatchObject({ sha256, stored: false });
    expect(await count('blob_object', 'blob_key = ?', ['rec/rec-2.wav'])).toBe(1);
  });

  it('fails unrecoverably on a checksum mismatch and keeps the spool file', async () => {
    await start();
    await spool('bad.wav', 'bytes the producer did not hash');
    const id = await add(
      world.queue,
      'blob.ingest',
      { spoolPath: 'bad.wav', blobKey: 'rec/bad.wav', kind: 'recording', sha256: '0'.repeat(64) },
      { attempts: 5, backoff: { type: taskBackoffType } },
    );
    const job = await settled(world.queue, id);
    expect(job.failedReason).toMatch(/^SWB_WORKER_CHECKSUM_MISMATCH: .*expected 0{64}/);
    expect(job.attemptsMade).toBe(1);
    expect(existsSync(join(world.spoolDir, 'bad.wav'))).toBe(true);
    expect(await world.blob.exists('rec/bad.wav')).toBe(false);
    expect(await count('blob_object', 'blob_key = ?', ['rec/bad.wav'])).toBe(0);
  });

  it('refuses a spool path that is a symlink out of the spool directory', async () => {
    await start();
    const outside = await mkdtemp(join(tmpdir(), 'swb-wk-outside-'));
    try {
      await writeFile(join(outside, 'secret'), 'not yours');
      await symlink(join(outside, 'secret'), join(world.spoolDir, 'link.wav'));
      const id = await add(world.queue, 'blob.ingest', {
        spoolPath: 'link.wav',
        blobKey: 'rec/link.wav',
        kind: 'recording',
      });
      const job = await settled(world.queue, id);
      expect(job.failedReason).toContain('SWB_WORKER_SPOOL_PATH');
      expect(await world.blob.exists('rec/link.wav')).toBe(false);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses to overwrite a different blob already under the key', async () => {
    await start();
    await spool('clash.wav', 'new bytes');
    await world.blob.put('rec/clash.wav', 'old bytes');
    const job = await settled(
      world.queue,
      await add(world.queue, 'blob.ingest', {
        spoolPath: 'clash.wav',
        blobKey: 'rec/clash.wav',
        kind: 'recording',
      }),
    );
    expect(job.failedReason).toContain('SWB_WORKER_BLOB_CONFLICT');
    expect((await world.blob.getBytes('rec/clash.wav')).toString()).toBe('old bytes');
    expect(existsSync(join(world.spoolDir, 'clash.wav'))).toBe(true);
  });

  it('hashes a big file in a worker thread with the same result', async () => {
    await start({ checksumThreadAboveBytes: 1024 });
    const content = Buffer.alloc(3 * 1024 * 1024, 7);
    const sha256 = await spool('big.wav', content);
    const job = await settled(
      world.queue,
      await add(world.queue, 'blob.ingest', {
        spoolPath: 'big.wav',
        blobKey: 'rec/big.wav',
        kind: 'recording',
        sha256,
      }),
    );
    expect(job.returnvalue).toMatchObject({ sha256, size: content.length, stored: true });
  });
});

describe('retention.purge', () => {
  it('deletes only what expired, blob first then row, in batches, a missing blob counting as done', async () => {
    await start();
    const rows = [
      ['old/a', '2020-01-01 00:00:00.000', true],
      ['old/b', '2020-01-02 00:00:00.000', false], // its blob is already gone (a crash)
      ['old/c', '2020-01-03 00:00:00.000', true],
      ['live/d', '2999-01-01 00:00:00.000', true],
    ] as const;
    for (const [key, expires, hasBlob] of rows) {
      if (hasBlob) await world.blob.put(key, `content of ${key}`);
      await world.sql.write(
        `INSERT INTO blob_object (blob_key, size, sha256, kind, created_at, expires_at)
         VALUES (?, 1, ?, 'recording', '2019-01-01 00:00:00.000', ?)`,
        [key, '0'.repeat(64), expires],
      );
    }
    await world.sql.write(
      `INSERT INTO blob_object (blob_key, size, sha256, kind, created_at, expires_at)
       VALUES ('forever/e', 1, ?, 'fax', '2019-01-01 00:00:00.000', NULL)`,
      ['0'.repeat(64)],
    );
    const job = await settled(
      world.queue,
      await add(world.queue, 'retention.purge', { batchSize: 2 }),
    );
    expect(job.returnvalue).toEqual({ purged: 3 });
    expect(job.progress).toEqual({ purged: 3 });
    const [left] = await world.sql.write('SELECT blob_key FROM blob_object ORDER BY blob_key');
    expect((left as Array<{ blob_key: Buffer }>).map((r) => r.blob_key.toString())).toEqual([
      'forever/e',
      'live/d',
    ]);
    expect(await world.blob.exists('old/a')).toBe(false);
    expect(await world.blob.exists('old/c')).toBe(false);
    expect(await world.blob.exists('live/d')).toBe(true);
  });
});

describe('search.reindex', () => {
  it('streams the cdr table from SQL in pages into a new index and swaps the alias', async () => {
    const c = cluster();
    const search = createSearch(
      { indexPrefix: 'swb', bulk: { flushDocs: 2 } },
      { client: c.client },
    );
    await start({ search, reindexPageSize: 2 });
    const ids = ['r-a', 'r-b', 'r-c', 'r-d', 'r-e'];
    for (const id of ids) {
      const job = await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: cdr(id) }));
      expect(job.returnvalue).toMatchObject({ indexed: true });
    }
    const before = c.requests.length;
    const job = await settled(
      world.queue,
      await add(world.queue, 'search.reindex', { type: 'cdr' }),
    );
    expect(job.failedReason).toBeUndefined();
    expect(job.returnvalue).toMatchObject({
      alias: 'swb-cdr',
      index: 'swb-cdr-v2',
      previous: 'swb-cdr-v1',
      read: 5,
      indexed: 5,
      failed: 0,
    });
    const requests = c.requests.slice(before);
    const bulks = requests.filter((r) => r.path === '/swb-cdr-v2/_bulk');
    expect(bulks.flatMap(bulkIds).sort()).toEqual(ids);
    expect(requests.at(-1)?.body).toEqual({
      actions: [
        { remove: { index: 'swb-cdr-v1', alias: 'swb-cdr', must_exist: true } },
        { add: { index: 'swb-cdr-v2', alias: 'swb-cdr' } },
      ],
    });
    expect(job.progress).toEqual({ phase: 'swapped', read: 5, indexed: 5, failed: 0 });
    await search.close();
  });

  it('fails unrecoverably when search is not configured', async () => {
    await start();
    const job = await settled(
      world.queue,
      await add(world.queue, 'search.reindex', { type: 'cdr' }, { attempts: 3 }),
    );
    expect(job.failedReason).toContain('SWB_WORKER_SEARCH_DISABLED');
    expect(job.attemptsMade).toBe(1);
  });
});

describe('the task runner', () => {
  it('fails a malformed payload at once with the reason, and keeps taking jobs', async () => {
    await start();
    const bad = await add(world.queue, 'cdr.index', { cdr: { callId: '' } }, { attempts: 3 });
    const unknown = await add(world.queue, 'no.such.task', {});
    const good = await add(world.queue, 'cdr.index', { cdr: cdr('after-the-bad-one') });
    const failed = await settled(world.queue, bad);
    expect(failed.failedReason).toMatch(
      /^SWB_WORKER_INVALID_PAYLOAD: invalid payload: cdr.index: /,
    );
    expect(failed.failedReason).toContain('/cdr/callId');
    expect(failed.attemptsMade).toBe(1);
    expect((await settled(world.queue, unknown)).failedReason).toContain('SWB_WORKER_UNKNOWN_TASK');
    expect((await settled(world.queue, good)).returnvalue).toMatchObject({ stored: true });
  });

  it('counts jobs per task and reads the queue depth on scrape', async () => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    await start({}, metrics);
    await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: cdr('metrics-1') }));
    await settled(world.queue, await add(world.queue, 'cdr.index', { cdr: {} }));
    await world.queue.add('cdr.index', { cdr: cdr('later') }, { delay: 60_000 });
    const text = await metrics.metrics();
    expect(text).toContain('swb_worker_jobs_completed_total{task="cdr.index"} 1');
    expect(text).toContain('swb_worker_jobs_failed_total{task="cdr.index",final="true"} 1');
    expect(text).toMatch(
      /swb_worker_job_duration_seconds_count\{task="cdr.index",outcome="completed"\} 1/,
    );
    expect(text).toContain('swb_worker_queue_jobs{state="delayed"} 1');
    expect(text).toContain('swb_worker_queue_jobs{state="failed"} 1');
  });
});
