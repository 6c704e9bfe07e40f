// A worker killed mid-task (SIGKILL): its jobs come back through BullMQ's stalled-job check on
// another worker, and their effects happen exactly once. A worker sent SIGTERM finishes its
// active job and exits 0. The worker runs as operators run it: the built dist/main.js
// (`npx tsc -b` first).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { add, cdr, createWorld, settled, type World } from '../helpers.js';

const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const info = inject('sandbox');
let world: World;
const children: ChildProcess[] = [];

interface RunningWorker {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly log: string[];
}

/** Starts the built worker on this test's schema, queue and directories; resolves once it takes jobs. */
async function startWorker(name: string, stepDelayMs: number): Promise<RunningWorker> {
  if (!existsSync(main)) throw new Error(`${main} is missing: build first with npx tsc -b`);
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? '',
      SWB_NODE_ID: name,
      SWB_LOG_LEVEL: 'info',
      SWB_OPS_PORT: '0',
      SWB_SHUTDOWN_TIMEOUT_MS: '20000',
      SWB_REDIS_URL: world.redisUrl,
      SWB_SQL_PRIMARY: world.schema.primaryUri,
      SWB_SQL_REPLICAS: world.schema.replicaUris.join(','),
      SWB_BLOB_ROOT: world.blobRoot,
      SWB_SPOOL_DIR: world.spoolDir,
      SWB_QUEUE_NAME: world.queueName,
      SWB_QUEUE_PREFIX: world.prefix,
      // A killed worker's lock runs out after 2 s; the survivor looks for stalled jobs every 1 s.
      SWB_QUEUE_LOCK_DURATION_MS: '2000',
      SWB_QUEUE_STALLED_INTERVAL_MS: '1000',
      SWB_SCHEDULES_RETENTION_PURGE_EVERY_MS: '0',
      SWB_DEBUG_STEP_DELAY_MS: String(stepDelayMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  child.stderr.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.push(line);
      if (line.includes('"msg":"taking jobs"')) resolve();
    });
    void exited.then((code) => {
      reject(
        new Error(`worker exited with ${String(code)} before taking jobs:\n${log.join('\n')}`),
      );
    });
  });
  return { child, exited, log };
}

async function count(table: string): Promise<number> {
  const [rows] = await world.sql.write(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number((rows as Array<{ n: unknown }>)[0]?.n);
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

beforeAll(async () => {
  world = await createWorld(info, 'wkfault');
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await world.queue.obliterate({ force: true });
  await world.sql.write('DELETE FROM cdr');
  await world.sql.write('DELETE FROM blob_object');
});

afterAll(async () => {
  await world.dispose();
});

describe('a worker killed mid-task', () => {
  it('has its jobs recovered by another worker, each effect exactly once', async () => {
    const first = await startWorker('worker-killed', 4000);
    const content = Buffer.alloc(256 * 1024, 1);
    await writeFile(join(world.spoolDir, 'kill.wav'), content);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const cdrJob = await add(
      world.queue,
      'cdr.index',
      { cdr: cdr('killed-call') },
      { attempts: 3 },
    );
    const blobJob = await add(
      world.queue,
      'blob.ingest',
      { spoolPath: 'kill.wav', blobKey: 'rec/kill.wav', kind: 'recording', sha256 },
      { attempts: 3 },
    );

    // Both handlers are past their first durable step (row written, blob stored) and paused.
    await until('the CDR row', async () => (await count('cdr')) === 1);
    await until('the blob', () => world.blob.exists('rec/kill.wav'));
    expect(await count('blob_object')).toBe(0);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    await startWorker('worker-survivor', 0);
    const [indexed, ingested] = await Promise.all([
      settled(world.queue, cdrJob, 30_000),
      settled(world.queue, blobJob, 30_000),
    ]);
    for (const job of [indexed, ingested]) {
      expect(job.failedReason).toBeUndefined();
      expect(job.finishedOn).toBeGreaterThan(0);
      // Started twice: once on the killed worker, once after the stalled check requeued it.
      expect(job.attemptsStarted).toBeGreaterThanOrEqual(2);
    }
    expect(ingested.returnvalue).toMatchObject({ sha256, stored: false });
    expect(await count('cdr')).toBe(1);
    expect(await count('blob_object')).toBe(1);
    const blobs: string[] = [];
    for await (const object of world.blob.listAll()) blobs.push(object.key);
    expect(blobs).toEqual(['rec/kill.wav']);
    expect((await world.blob.head('rec/kill.wav')).sha256).toBe(sha256);
    expect(existsSync(join(world.spoolDir, 'kill.wav'))).toBe(false);
  });
});

describe('a worker sent SIGTERM', () => {
  it('finishes its active job, takes no more, and exits 0', async () => {
    const worker = await startWorker('worker-drained', 1500);
    const active = await add(world.queue, 'cdr.index', { cdr: cdr('drained-call') });
    await until('the CDR row', async () => (await count('cdr')) === 1);
    worker.child.kill('SIGTERM');
    await until('the worker to begin closing', () =>
      Promise.resolve(worker.log.some((line) => line.includes('"msg":"closing"'))),
    );
    const waiting = await add(world.queue, 'cdr.index', { cdr: cdr('after-sigterm') });
    expect(await worker.exited).toBe(0);
    const job = await settled(world.queue, active, 1000);
    expect(job.returnvalue).toMatchObject({ callId: 'drained-call', stored: true });
    expect(job.attemptsStarted).toBe(1);
    expect(await (await world.queue.getJob(waiting))?.getState()).toBe('waiting');
    expect(worker.log.join('\n')).toContain('"msg":"closed"');
  });
});
