import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBus, type Bus, type Cdr } from '@switchboard/queue';
import type { Topology } from '@switchboard/runtime';
import { down, killReplica, readSandboxInfo, type SandboxInfo } from '@switchboard/sandbox';
import { waitFor as waitUntil } from '@switchboard/sandbox/testing';
import { createBlobStore, createSqlRouter, type SqlRouter } from '@switchboard/storage';
import type { RowDataPacket } from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The whole path without SIP, exactly as `npm start` runs it: the launcher brings up a sandbox of
// its own (its own port range and folder, so killing a replica here touches no other test),
// migrates, and starts both controllers, the queue bridge, the worker and the SIP edge as
// processes. The test then talks to them only from outside: the bus, SQL, blob storage, the
// controller's API and the worker's metrics.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const launcher = join(repoRoot, 'packages/sandbox/dist/cli.js');
/** Clear of the shared sandbox (17400–17459) and its scratch clusters (17500–17579). */
const PORT_BASE = 17600;
/**
 * The daemons this path needs. The SIP edge runs too, but stays unready without a
 * drachtio-server, and the launcher only waits 30 s for it before saying so.
 */
const NEEDED = ['controller-1', 'controller-2', 'queue', 'worker'];

type Rows<T> = (T & RowDataPacket)[];

interface Platform {
  /** A temporary folder holding the sandbox's (`root`) and the launcher's log. */
  readonly home: string;
  readonly root: string;
  readonly child: ChildProcess;
  /** What the launcher printed (stdout and stderr), in this file. */
  readonly logFile: string;
  readonly exited: Promise<number | null>;
}

let platform: Platform | undefined;
let info: SandboxInfo;
let bus: Bus | undefined;
let router: SqlRouter | undefined;
let adminToken: string;

/** `npm start`'s own command, with the sandbox moved to a port range and folder of its own. */
async function startPlatform(): Promise<Platform> {
  const home = await mkdtemp(join(tmpdir(), 'swb-e2e-'));
  // mkdtemp makes it 0700; RabbitMQ runs as its own user and must traverse it.
  await chmod(home, 0o755);
  // The sandbox refuses a folder it did not make that is not empty: the log stays beside it.
  const root = join(home, 'sandbox');
  const logFile = join(home, 'npm-start.log');
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [launcher, 'start', '--down'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      SWB_SANDBOX_PORT_BASE: String(PORT_BASE),
      SWB_SANDBOX_DIR: root,
    },
    stdio: ['ignore', log, log],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { home, root, child, logFile, exited };
}

function output(): string {
  return platform === undefined ? '' : readFileSync(platform.logFile, 'utf8');
}

function report(line: string): void {
  process.stdout.write(`[platform] ${line}\n`);
}

/**
 * Polls `probe` (a throw counts as "not yet") with the sandbox's own wait; a timeout's error
 * ends with the launcher's last lines.
 */
function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  return waitUntil(what, async () => probe(), {
    timeoutMs,
    intervalMs,
    ...(platform === undefined ? {} : { logFile: platform.logFile }),
  });
}

async function topology(): Promise<Topology> {
  const response = await fetch(`http://127.0.0.1:${PORT_BASE + 55}/v1/topology`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (!response.ok) throw new Error(`GET /v1/topology: ${response.status}`);
  return (await response.json()) as Topology;
}

/** The worker's SQL pool as its /metrics reports it: node name → in pool. */
async function workerSqlPool(): Promise<Map<string, boolean>> {
  const response = await fetch(`http://127.0.0.1:${PORT_BASE + 53}/metrics`);
  const pool = new Map<string, boolean>();
  for (const [, labels = '', value] of (await response.text()).matchAll(
    /^swb_sql_node_in_pool\{([^}]*)\} (\d)/gm,
  )) {
    const label = (name: string): string | undefined =>
      new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
    const node = label('node');
    if (label('role') === 'replica' && node !== undefined) pool.set(node, value === '1');
  }
  return pool;
}

beforeAll(async () => {
  platform = await startPlatform();
  const started = platform;
  await waitUntil(
    `npm start to report ${NEEDED.join(', ')} ready`,
    () => {
      const printed = output();
      return Promise.resolve(
        NEEDED.every((name) => printed.includes(`${name}: ready`)) ? true : undefined,
      );
    },
    {
      timeoutMs: 150_000,
      intervalMs: 200,
      logFile: started.logFile,
      failFast: () =>
        started.child.exitCode === null
          ? undefined
          : `npm start exited with ${String(started.child.exitCode)}`,
    },
  );
  const read = await readSandboxInfo({ root: started.root });
  if (read === undefined) throw new Error(`no sandbox.json under ${started.root}`);
  info = read;
  const secrets = JSON.parse(await readFile(join(started.root, 'secrets.json'), 'utf8')) as {
    adminToken: string;
  };
  adminToken = secrets.adminToken;
  const database = info.mariadb.database;
  router = createSqlRouter({
    primary: `${info.mariadb.primary.uri}/${database}`,
    replicas: info.mariadb.replicas.map((r) => `${r.uri}/${database}`),
  });
  bus = createBus({ urls: [info.rabbitmq.url], source: 'e2e-test' });
  await bus.start();
}, 180_000);

afterAll(async () => {
  await bus?.close();
  await router?.close();
  if (platform === undefined) return;
  // ^C, as a user would: the launcher stops the daemons, then (--down) the sandbox's servers.
  platform.child.kill('SIGINT');
  const code = await Promise.race([
    platform.exited,
    new Promise<'timeout'>((resolve) => {
      setTimeout(() => {
        resolve('timeout');
      }, 60_000);
    }),
  ]);
  if (code === 'timeout') platform.child.kill('SIGKILL');
  // Whatever the launcher left (it stops the servers itself with --down; not when it failed
  // half-way through bringing them up).
  await down({ root: platform.root, portBase: PORT_BASE });
  const printed = output();
  await rm(platform.home, { recursive: true, force: true });
  expect(code, printed).toBe(0);
}, 90_000);

describe('the platform under npm start', () => {
  it('turns a published call.ended into a CDR row on the primary, read back from a replica', async () => {
    const callId = `e2e-${randomUUID()}@edge-1`;
    const start = new Date(Date.now() - 65_000);
    const cdr: Cdr = {
      callId,
      from: 'sip:alice@example.test',
      to: 'sip:bob@example.test',
      direction: 'outbound',
      disposition: 'answered',
      start: start.toISOString(),
      answer: new Date(start.getTime() + 5000).toISOString(),
      end: new Date(start.getTime() + 65_000).toISOString(),
      durationSeconds: 65,
      billableSeconds: 60,
      pbxNode: 'pbx-1',
      sipStatus: 200,
    };
    const publishedAt = Date.now();
    await bus?.publishEvent('call.ended', { cdr });

    const sql = router;
    if (sql === undefined) throw new Error('no router');
    const onPrimary = await waitFor('the CDR row on the primary', async () => {
      const [rows] = await sql.write<Rows<{ billable_seconds: number }>>(
        'SELECT billable_seconds FROM cdr WHERE call_id = ?',
        [callId],
      );
      return rows[0];
    });
    expect(onPrimary.billable_seconds).toBe(60);
    const onReplica = await waitFor('the CDR row on a replica, through the router', async () => {
      const [rows] = await sql.read<Rows<{ from_uri: string; node: number }>>(
        'SELECT from_uri, @@port AS node FROM cdr WHERE call_id = ?',
        [callId],
      );
      return rows[0];
    });
    report(`call.ended → CDR row read from a replica: ${Date.now() - publishedAt} ms`);
    expect(onReplica.from_uri).toBe(cdr.from);
    const replicaPorts = info.mariadb.replicas.map((r) => r.port);
    expect(replicaPorts).toContain(onReplica.node);
  });

  it('ingests a recording dropped into the spool into blob storage, with its metadata row', async () => {
    const content = Buffer.from(`RIFF${randomUUID().repeat(64)}`);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const spoolPath = `e2e/${randomUUID()}.wav`;
    const blobKey = `recordings/e2e/${randomUUID()}.wav`;
    const spoolFile = join(info.root, 'spool', spoolPath);
    await mkdir(join(info.root, 'spool', 'e2e'), { recursive: true });
    await writeFile(spoolFile, content);
    const publishedAt = Date.now();
    await bus?.publishEvent('recording.ready', {
      spoolPath,
      blobKey,
      kind: 'recording',
      sha256,
      contentType: 'audio/wav',
      retentionDays: 30,
    });

    const sql = router;
    if (sql === undefined) throw new Error('no router');
    const row = await waitFor('the blob_object row', async () => {
      const [rows] = await sql.write<Rows<{ size: number | string; sha256: string }>>(
        'SELECT size, sha256 FROM blob_object WHERE blob_key = ?',
        [blobKey],
      );
      return rows[0];
    });
    report(`recording.ready → blob_object row: ${Date.now() - publishedAt} ms`);
    expect(Number(row.size)).toBe(content.length);
    expect(row.sha256).toBe(sha256);

    const blobs = createBlobStore({ driver: 'posix', root: join(info.root, 'blobs') });
    const head = await blobs.head(blobKey);
    expect(head.size).toBe(content.length);
    expect(head.sha256).toBe(sha256);
    expect((await blobs.getBytes(blobKey, { verify: true })).equals(content)).toBe(true);
    // Removed from the spool only once the blob and its row are durable.
    await waitFor('the spool file to be removed', async () => {
      try {
        await stat(spoolFile);
        return undefined;
      } catch {
        return true;
      }
    });
  });

  it('marks a killed replica down in the topology, and the worker’s router stops using it', async () => {
    const dead = info.mariadb.replicas[1];
    if (dead === undefined) throw new Error('the sandbox has two replicas');
    const deadAddress = `${dead.host}:${dead.port}`;
    const before = await waitFor('a topology with both replicas healthy', async () => {
      const current = await topology();
      return current.sql.replicas.filter((r) => r.healthy).length === 2 ? current : undefined;
    });
    await waitFor('the worker to read from both replicas', async () => {
      const pool = await workerSqlPool();
      return pool.get(deadAddress) === true ? true : undefined;
    });

    const killedAt = Date.now();
    await killReplica(info, 1);

    const after = await waitFor('the controller to mark the replica down', async () => {
      const current = await topology();
      const entry = current.sql.replicas.find((r) => r.address === deadAddress);
      return entry?.healthy === false ? current : undefined;
    });
    expect(after.version).toBeGreaterThan(before.version);
    expect(after.sql.replicas.find((r) => r.address === deadAddress)?.reason).toMatch(
      /unreachable/,
    );
    // Gone from the worker's pool (not merely ejected by its own health check): the controller's
    // topology took it out.
    await waitFor('the worker’s router to drop the replica', async () => {
      const pool = await workerSqlPool();
      return pool.size > 0 && !pool.has(deadAddress) ? true : undefined;
    });
    report(`replica killed → gone from the worker's pool: ${Date.now() - killedAt} ms`);
    // Reads still work, from the replica that is left.
    const [rows] = await (router as SqlRouter).read<Rows<{ n: number }>>('SELECT 1 AS n');
    expect(rows[0]?.n).toBe(1);
  });
});
