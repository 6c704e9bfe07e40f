import { createConnection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { Registry } from 'prom-client';
import { waitForReplicaCatchUp } from '@switchboard/sandbox';
import { createTestSchema, type TestSchema } from '@switchboard/sandbox/testing';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SqlRouter,
  SqlRouterClosedError,
  createSqlRouter,
  type SqlRouterOptions,
} from '../src/index.js';

const info = inject('sandbox');
const primaryPort = info.mariadb.primary.port;
const replicaPorts = info.mariadb.replicas.map((r) => r.port);

let schema: TestSchema;
const routers: SqlRouter[] = [];

function router(options: Partial<SqlRouterOptions> = {}): SqlRouter {
  const created = createSqlRouter({
    primary: schema.primaryUri,
    replicas: schema.replicaUris,
    pool: { connectionLimit: 4 },
    ...options,
  });
  routers.push(created);
  return created;
}

async function portOf(db: SqlRouter, how: 'query' | 'read' | 'write' = 'query'): Promise<number> {
  const [rows] = await db[how]('SELECT @@port AS port');
  return Number(rows[0]?.port);
}

beforeAll(async () => {
  schema = await createTestSchema(info, 'sqlr');
  const connection = await createConnection(schema.primaryUri);
  await connection.query('CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL)');
  await connection.end();
  await Promise.all(replicaPorts.map((_, i) => waitForReplicaCatchUp(info, i)));
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await schema.drop();
});

describe('the SQL router against the sandbox', () => {
  it('sends reads to the replicas, spread over both, and writes to the primary', async () => {
    const db = router();
    const ports = new Set<number>();
    for (let i = 0; i < 8; i++) ports.add(await portOf(db));
    expect([...ports].sort()).toEqual([...replicaPorts].sort());
    expect(await portOf(db, 'write')).toBe(primaryPort);
    const [result] = await db.query<ResultSetHeader>('INSERT INTO items VALUES (1, ?)', ['one']);
    expect(result.affectedRows).toBe(1);
  });

  it('sends a locking read to the primary, and forces the primary for one call on request', async () => {
    const db = router();
    const [rows] = await db.query('SELECT @@port AS port FOR UPDATE');
    expect(Number(rows[0]?.port)).toBe(primaryPort);
    const [forced] = await db.query('SELECT @@port AS port', [], {
      target: 'primary',
    });
    expect(Number(forced[0]?.port)).toBe(primaryPort);
  });

  it('spreads reads by weight', async () => {
    const db = router({
      replicas: [
        { uri: schema.replicaUris[0] ?? '', weight: 3 },
        { uri: schema.replicaUris[1] ?? '', weight: 1 },
      ],
    });
    const counts = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const port = await portOf(db);
      counts.set(port, (counts.get(port) ?? 0) + 1);
    }
    const heavy = counts.get(replicaPorts[0] ?? 0) ?? 0;
    const light = counts.get(replicaPorts[1] ?? 0) ?? 0;
    expect(heavy + light).toBe(400);
    expect(heavy / light).toBeGreaterThan(2);
    expect(heavy / light).toBeLessThan(4.5);
  });

  it('serves reads from the primary when there are no replicas', async () => {
    const db = router({ replicas: [] });
    expect(await portOf(db)).toBe(primaryPort);
  });

  it('returns SQL errors unchanged, as mysql2 raised them', async () => {
    const db = router();
    const error: unknown = await db.query('SELEC nonsense').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ER_PARSE_ERROR', errno: 1064 });
    expect((error as Error).constructor.name).toBe('Error');
    await db.query('INSERT INTO items VALUES (2, ?)', ['two']);
    const duplicate: unknown = await db
      .query('INSERT INTO items VALUES (2, ?)', ['again'])
      .catch((e: unknown) => e);
    expect(duplicate).toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(db.nodes().every((n) => !n.ejected)).toBe(true);
  });

  it('reads its own write in a session, with prepared statements too', async () => {
    // Not adaptive: every read waits on a replica, so the replica path is what is tested.
    const db = router({ causal: { adaptive: false } });
    await db.withContext(async () => {
      for (let id = 100; id < 120; id++) {
        await db.execute('INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
        const [rows] = await db.execute('SELECT label, @@port AS port FROM items WHERE id = ?', [
          id,
        ]);
        expect(rows[0]?.label).toBe(`row ${id}`);
        expect(replicaPorts).toContain(Number(rows[0]?.port));
      }
    });
  });

  it('reads its own write through text queries, the GTID wait and the read in one round trip', async () => {
    const registry = new Registry();
    const db = router({ registry, causal: { adaptive: false } });
    await db.withContext(async () => {
      for (let id = 150; id < 170; id++) {
        await db.query('INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
        const [rows] = await db.query('SELECT label, @@port AS port FROM items WHERE id = ?', [id]);
        expect(rows).toHaveLength(1);
        expect(rows[0]?.label).toBe(`row ${id}`);
        expect(replicaPorts).toContain(Number(rows[0]?.port));
      }
    });
    const text = await registry.metrics();
    expect(text).toMatch(/swb_sql_causal_reads_total\{outcome="(waited|cached)"\} \d+/);
  });

  it('never sends a multi-statement given to read() through the multi-statement pool', async () => {
    const db = router();
    await db.withContext(async () => {
      await db.query('INSERT INTO items VALUES (170, ?)', ['x']);
      const error: unknown = await db
        .read('SELECT 1; DELETE FROM items WHERE id = 170')
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ER_PARSE_ERROR' });
    });
    const [rows] = await db.write('SELECT id FROM items WHERE id = 170');
    expect(rows).toHaveLength(1);
  });

  it('sends a read to the primary when its write is younger than the replicas take to apply one', async () => {
    const registry = new Registry();
    const db = router({ registry });
    await db.withContext(async () => {
      for (let id = 180; id < 200; id++) {
        await db.query('INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
        const [rows] = await db.query('SELECT label FROM items WHERE id = ?', [id]);
        expect(rows[0]?.label).toBe(`row ${id}`);
      }
    });
    // The first read waited (and measured the replica); later ones may go to the primary.
    expect(await registry.metrics()).toMatch(/swb_sql_causal_reads_total\{outcome="waited"\} \d+/);
  });

  it('makes every read wait for the newest write in global mode, without a context', async () => {
    const db = router({ causal: { mode: 'global', adaptive: false } });
    for (let id = 210; id < 220; id++) {
      await db.query('INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
      const [rows] = await db.query('SELECT label FROM items WHERE id = ?', [id]);
      expect(rows[0]?.label).toBe(`row ${id}`);
    }
  });

  it('takes an explicit session object instead of a scope', async () => {
    const db = router();
    const session = db.createSession();
    await db.write('INSERT INTO items VALUES (200, ?)', ['two hundred'], { context: session });
    expect(session.position.size).toBe(1);
    const [rows] = await db.read('SELECT label FROM items WHERE id = 200', [], {
      context: session,
    });
    expect(rows[0]?.label).toBe('two hundred');
  });

  it('commits a transaction on one primary connection and rolls back on error', async () => {
    const db = router();
    const committed = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO items VALUES (300, ?)', ['a']);
      const [rows] = await tx.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n, @@port AS port FROM items WHERE id = 300',
      );
      expect(Number(rows[0]?.port)).toBe(primaryPort);
      return Number(rows[0]?.n);
    });
    expect(committed).toBe(1);
    const failure = new Error('abort');
    await expect(
      db.transaction(async (tx) => {
        await tx.execute('INSERT INTO items VALUES (301, ?)', ['b']);
        throw failure;
      }),
    ).rejects.toBe(failure);
    const [rows] = await db.write('SELECT id FROM items WHERE id = 301');
    expect(rows).toHaveLength(0);
  });

  it('retries a transaction after a lock-wait timeout when asked to', async () => {
    const db = router();
    await db.write('INSERT INTO items VALUES (400, ?)', ['locked']);
    const holder = await createConnection(schema.primaryUri);
    await holder.query('START TRANSACTION');
    await holder.query('SELECT * FROM items WHERE id = 400 FOR UPDATE');
    let attempts = 0;
    const release = setTimeout(() => void holder.query('COMMIT'), 1500);
    try {
      await db.transaction(
        async (tx) => {
          attempts++;
          await tx.query('SET SESSION innodb_lock_wait_timeout = 1');
          await tx.query('UPDATE items SET label = ? WHERE id = 400', ['updated']);
        },
        { retries: 3, retryDelayMs: 200 },
      );
    } finally {
      clearTimeout(release);
      await holder.end();
    }
    expect(attempts).toBeGreaterThanOrEqual(2);
    const [rows] = await db.write('SELECT label FROM items WHERE id = 400');
    expect(rows[0]?.label).toBe('updated');
  });

  it('does not retry a lock-wait timeout by default', async () => {
    const db = router();
    await db.write('INSERT INTO items VALUES (401, ?)', ['locked']);
    const holder = await createConnection(schema.primaryUri);
    await holder.query('START TRANSACTION');
    await holder.query('SELECT * FROM items WHERE id = 401 FOR UPDATE');
    try {
      await expect(
        db.transaction(async (tx) => {
          await tx.query('SET SESSION innodb_lock_wait_timeout = 1');
          await tx.query('UPDATE items SET label = ? WHERE id = 401', ['updated']);
        }),
      ).rejects.toMatchObject({ errno: 1205 });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('hands out primary connections through getConnection', async () => {
    const db = router();
    const connection = await db.getConnection();
    try {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT @@port AS port');
      expect(Number(rows[0]?.port)).toBe(primaryPort);
    } finally {
      connection.release();
    }
  });

  it('learns every replica position from its poller', async () => {
    const db = router();
    await db.refresh();
    const nodes = db.nodes();
    expect(nodes.map((n) => n.role)).toEqual(['primary', 'replica', 'replica']);
    expect(nodes.every((n) => n.inPool && n.position !== '')).toBe(true);
  });

  it('registers its metrics on the registry it is given', async () => {
    const registry = new Registry();
    const db = router({ registry });
    await portOf(db);
    await portOf(db, 'write');
    const text = await registry.metrics();
    expect(text).toContain('swb_sql_queries_total');
    expect(text).toMatch(/swb_sql_node_in_pool\{node="127\.0\.0\.1:\d+",role="replica"\} 1/);
    expect(text).toContain('swb_sql_replica_lag_seconds');
  });

  it('changes its topology live without failing reads in flight', async () => {
    const db = router({ replicas: [schema.replicaUris[0] ?? ''] });
    const events: string[] = [];
    db.on('topology', (e) => events.push(`${e.primary}|${e.replicas.join(',')}`));
    let failures = 0;
    let done = 0;
    let stop = false;
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          await db.query('SELECT SLEEP(0.01), @@port AS port');
          done++;
        } catch {
          failures++;
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    db.setTopology({ primary: schema.primaryUri, replicas: schema.replicaUris });
    await new Promise((resolve) => setTimeout(resolve, 100));
    db.setTopology({ primary: schema.primaryUri, replicas: [schema.replicaUris[1] ?? ''] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await portOf(db)).toBe(replicaPorts[1]);
    stop = true;
    await Promise.all(load);
    expect(failures).toBe(0);
    expect(done).toBeGreaterThan(10);
    expect(events).toHaveLength(2);
  });

  it('rejects calls after close, and close and destroy are idempotent', async () => {
    const db = router();
    await portOf(db);
    const closing = db.close();
    expect(db.close()).toBe(closing);
    await closing;
    await db.destroy();
    await expect(db.query('SELECT 1')).rejects.toBeInstanceOf(SqlRouterClosedError);
  });
});
