import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsRegistry, loadConfig, systemClock } from '@switchboard/runtime';
import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSqlRouter } from '@switchboard/storage';
import { createWorkerDaemon, workerConfigSchema, workerRequiredWhen } from '../src/index.js';
import { cdr, settled, silentLogger } from './helpers.js';

const info = inject('sandbox');
let schema: TestSchema;
let dir: string;
let queue: Queue;
const queueName = uniqueName('q');
const prefix = uniqueName('p');

beforeAll(async () => {
  schema = await createTestSchema(info, 'wkdaemon');
  dir = await mkdtemp(join(tmpdir(), 'swb-wk-daemon-'));
  queue = new Queue(queueName, { connection: { url: info.redis.url }, prefix });
});

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  await schema.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('the worker daemon', () => {
  it('migrates its tables, schedules the purge, runs tasks and reports ready, then closes', async () => {
    const { config } = loadConfig(workerConfigSchema, {
      env: {
        SWB_NODE_ID: 'worker-test',
        SWB_OPS_PORT: '0',
        SWB_REDIS_URL: info.redis.url,
        SWB_SQL_PRIMARY: schema.primaryUri,
        SWB_SQL_REPLICAS: schema.replicaUris.join(','),
        SWB_BLOB_ROOT: join(dir, 'blobs'),
        SWB_SPOOL_DIR: join(dir, 'spool'),
        SWB_QUEUE_NAME: queueName,
        SWB_QUEUE_PREFIX: prefix,
        SWB_SCHEDULES_RETENTION_PURGE_EVERY_MS: '600000',
      },
      requiredWhen: workerRequiredWhen,
    });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    await mkdir(join(dir, 'blobs'));
    const daemon = createWorkerDaemon(config, {
      logger: silentLogger,
      registry,
      clock: systemClock,
    });
    await daemon.start();
    try {
      const sql = createSqlRouter({ primary: schema.primaryUri });
      const [applied] = await sql.write(
        "SELECT id FROM swb_schema_migrations WHERE package = 'worker' ORDER BY id",
      );
      await sql.close();
      expect(applied).toEqual([{ id: '0001-create-cdr' }, { id: '0002-create-blob-object' }]);

      expect(await queue.getJobScheduler('retention.purge')).toMatchObject({ every: 600_000 });

      const job = await queue.add('cdr.index', { cdr: cdr('daemon-call') });
      expect((await settled(queue, job.id ?? '')).returnvalue).toMatchObject({
        stored: true,
        indexed: false,
      });

      const text = await registry.metrics();
      expect(text).toContain('swb_worker_jobs_completed_total{task="cdr.index"} 1');
      expect(text).toMatch(/swb_dependency_up\{dependency="spool",critical="true"\} 1/);
      expect(text).toMatch(/swb_dependency_up\{dependency="search",critical="false"\} 1/);
      expect(text).toContain('swb_ready 1');
    } finally {
      await daemon.close();
    }
  });
});
