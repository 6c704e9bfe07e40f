import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import {
  killReplica,
  pauseReplicaSqlThread,
  resumeReplicaSqlThread,
  setReplicaDelay,
  startPrimary,
  startReplica,
  stopPrimary,
  stopReplica,
  waitForReplicaCatchUp,
} from '@switchboard/sandbox';
import { createTestSchema, type TestSchema } from '@switchboard/sandbox/testing';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SqlPrimaryUnavailableError,
  createSqlRouter,
  type SqlRouter,
  type SqlRouterOptions,
} from '../../src/index.js';

// Each test breaks a shared server and restores it in `finally`; the faults project runs this
// file alone, after every other test.

const info = inject('sandbox');
const replicaPorts = info.mariadb.replicas.map((r) => r.port);

let schema: TestSchema;
let nextId = 1;
const routers: SqlRouter[] = [];

function router(options: Partial<SqlRouterOptions> = {}): SqlRouter {
  const created = createSqlRouter({
    primary: schema.primaryUri,
    replicas: schema.replicaUris,
    pool: { connectionLimit: 8, connectTimeout: 2000 },
    health: { intervalMs: 200, rejoinAfter: 2 },
    ...options,
  });
  routers.push(created);
  return created;
}

/** Runs `loops` concurrent loops of `op` until stopped; counts successes and failures. */
function steadyLoad(loops: number, op: () => Promise<unknown>) {
  const stats = { ok: 0, failed: 0, errors: [] as unknown[] };
  let running = true;
  const done = Promise.all(
    Array.from({ length: loops }, async () => {
      while (running) {
        try {
          await op();
          stats.ok++;
        } catch (error) {
          stats.failed++;
          stats.errors.push(error);
        }
      }
    }),
  );
  return {
    stats,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function waitUntil(
  what: string,
  predicate: () => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  schema = await createTestSchema(info, 'sqlf');
  const connection = await createConnection(schema.primaryUri);
  await connection.query('CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL)');
  await connection.query('INSERT INTO items VALUES (0, ?)', ['seed']);
  await connection.end();
  await Promise.all(replicaPorts.map((_, i) => waitForReplicaCatchUp(info, i)));
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await schema.drop();
});

describe('SQL router reliability on real MariaDB replication', () => {
  it.each([
    ['killed (SIGKILL)', (index: number) => killReplica(info, index)],
    ['shut down', (index: number) => stopReplica(info, index)],
  ] as const)(
    'loses no read while a replica is %s under steady load, and takes it back after',
    async (_how, fault) => {
      const db = router();
      const ejected: string[] = [];
      const rejoined: string[] = [];
      db.on('eject', (e) => ejected.push(e.node));
      db.on('rejoin', (e) => rejoined.push(e.node));
      const load = steadyLoad(8, () => db.query('SELECT label FROM items WHERE id = 0'));
      try {
        await sleep(300);
        await fault(0);
        await sleep(1500);
        const during = load.stats.ok;
        await startReplica(info, 0);
        await waitUntil('the replica to rejoin', () => rejoined.length > 0);
        await sleep(300);
        expect(load.stats.ok).toBeGreaterThan(during);
      } finally {
        await load.stop();
        await startReplica(info, 0);
      }
      expect(load.stats.errors).toEqual([]);
      expect(load.stats.failed).toBe(0);
      expect(load.stats.ok).toBeGreaterThan(100);
      expect(ejected).toContain(`127.0.0.1:${replicaPorts[0]}`);
      expect(rejoined).toContain(`127.0.0.1:${replicaPorts[0]}`);
    },
  );

  async function staleReads(mode: 'session' | 'none', rounds: number): Promise<number> {
    const db = router({ causal: { mode } });
    let stale = 0;
    await db.withContext(async () => {
      for (let i = 0; i < rounds; i++) {
        const id = nextId++;
        await db.query('INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
        const [rows] = await db.query('SELECT label FROM items WHERE id = ?', [id]);
        if (rows.length === 0) stale++;
      }
    });
    return stale;
  }

  it('serves no stale read in session mode with replicas 3 s behind, and stale ones in mode none', async () => {
    await setReplicaDelay(info, 0, 3);
    await setReplicaDelay(info, 1, 3);
    try {
      expect(await staleReads('session', 20)).toBe(0);
      // The control: the same test without causal reads does see stale data, so it can fail.
      expect(await staleReads('none', 20)).toBeGreaterThan(0);
    } finally {
      await setReplicaDelay(info, 0, 0);
      await setReplicaDelay(info, 1, 0);
    }
  });

  it('takes a replica whose SQL thread is paused out of the read pool on lag, and back after resuming', async () => {
    const db = router({
      health: { intervalMs: 100 },
      lag: { maxLagMs: 600, rejoinAfterPolls: 2 },
    });
    const events: { node: string; inPool: boolean }[] = [];
    db.on('lag', (e) => events.push({ node: e.node, inPool: e.inPool }));
    const paused = `127.0.0.1:${replicaPorts[0]}`;
    await db.refresh();
    const writer = steadyLoad(1, async () => {
      const id = nextId++;
      await db.query('INSERT INTO items VALUES (?, ?)', [id, 'lag']);
      await sleep(50);
    });
    try {
      await pauseReplicaSqlThread(info, 0);
      await waitUntil('the paused replica to leave the pool', () =>
        events.some((e) => e.node === paused && !e.inPool),
      );
      const status = db.nodes().find((n) => n.name === paused);
      expect(status).toMatchObject({ lagging: true, inPool: false });
      expect(status?.lagMs).toBeGreaterThan(600);
      // While it is out, every read goes to the other replica.
      for (let i = 0; i < 6; i++) {
        const [rows] = await db.query('SELECT @@port AS port');
        expect(Number(rows[0]?.port)).toBe(replicaPorts[1]);
      }
      await resumeReplicaSqlThread(info, 0);
      await waitUntil('the replica to return', () =>
        events.some((e) => e.node === paused && e.inPool),
      );
      expect(db.nodes().find((n) => n.name === paused)).toMatchObject({ inPool: true });
    } finally {
      await writer.stop();
      await resumeReplicaSqlThread(info, 0);
    }
    expect(writer.stats.failed).toBe(0);
    expect(events.filter((e) => e.node === paused).map((e) => e.inPool)).toEqual([false, true]);
  });

  it('fails writes fast with SWB_SQL_PRIMARY_UNAVAILABLE while the primary is down, and keeps reading', async () => {
    const db = router();
    await db.refresh();
    const reads = steadyLoad(4, () => db.query('SELECT label FROM items WHERE id = 0'));
    try {
      await stopPrimary(info);
      const first: unknown = await db
        .query('INSERT INTO items VALUES (?, ?)', [nextId++, 'x'])
        .catch((e: unknown) => e);
      expect(first).toBeInstanceOf(SqlPrimaryUnavailableError);
      expect(first).toMatchObject({ code: 'SWB_SQL_PRIMARY_UNAVAILABLE', retryable: true });
      // Once known down, a write fails without touching the network.
      const startedAt = performance.now();
      await expect(
        db.transaction(async (tx) => tx.query('INSERT INTO items VALUES (?, ?)', [nextId++, 'y'])),
      ).rejects.toMatchObject({ code: 'SWB_SQL_PRIMARY_UNAVAILABLE' });
      expect(performance.now() - startedAt).toBeLessThan(50);
      const before = reads.stats.ok;
      await sleep(1000);
      expect(reads.stats.ok).toBeGreaterThan(before);
    } finally {
      await reads.stop();
      await startPrimary(info);
    }
    expect(reads.stats.errors).toEqual([]);
    // After the primary is back, a health check lets writes through again.
    await waitUntil('the primary to rejoin', () => db.nodes()[0]?.inPool === true);
    await db.query('INSERT INTO items VALUES (?, ?)', [nextId++, 'after']);
  });
  it('fails a causal read that needs the down primary clearly, or waits for a replica when configured to', async () => {
    const failing = router({ causal: { adaptive: false, onPrimaryDown: 'fail' } });
    const waiting = router({
      causal: { adaptive: false, onPrimaryDown: 'wait', primaryDownWaitMs: 5000 },
    });
    const failSession = failing.createSession();
    const waitSession = waiting.createSession();
    const failId = nextId++;
    const waitId = nextId++;
    await pauseReplicaSqlThread(info, 0);
    await pauseReplicaSqlThread(info, 1);
    try {
      await failing.write('INSERT INTO items VALUES (?, ?)', [failId, 'f'], {
        context: failSession,
      });
      await waiting.write('INSERT INTO items VALUES (?, ?)', [waitId, 'w'], {
        context: waitSession,
      });
      // Let the replicas' IO threads receive both events before the primary goes.
      await sleep(500);
      await stopPrimary(info);
      await expect(
        failing.read('SELECT label FROM items WHERE id = ?', [failId], { context: failSession }),
      ).rejects.toMatchObject({ code: 'SWB_SQL_CAUSAL_TIMEOUT', retryable: true });
      const resume = sleep(300).then(async () => {
        await resumeReplicaSqlThread(info, 0);
        await resumeReplicaSqlThread(info, 1);
      });
      const [rows] = await waiting.read('SELECT label FROM items WHERE id = ?', [waitId], {
        context: waitSession,
      });
      await resume;
      expect(rows).toEqual([{ label: 'w' }]);
    } finally {
      await resumeReplicaSqlThread(info, 0);
      await resumeReplicaSqlThread(info, 1);
      await startPrimary(info);
    }
  });
});
