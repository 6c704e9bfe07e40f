import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  pauseReplicaSqlThread,
  replicaGtidLag,
  resumeReplicaSqlThread,
  setReplicaDelay,
  startReplica,
  stopReplica,
  waitForReplicaCatchUp,
} from '../../src/index.js';
import { createTestSchema, type TestSchema } from '../../src/testing.js';

const info = inject('sandbox');

let schema: TestSchema;
let primary: Connection;
let nextId = 1;

async function connectTo(port: number): Promise<Connection> {
  return createConnection({
    host: '127.0.0.1',
    port,
    user: info.mariadb.user,
    password: info.mariadb.password,
    database: schema.name,
  });
}

/** Whether replica `index` has row `id` (a fresh connection: the replica may have restarted). */
async function replicaHas(index: number, id: number): Promise<boolean> {
  const replica = info.mariadb.replicas[index];
  if (replica === undefined) throw new Error(`no replica ${index}`);
  const connection = await connectTo(replica.port);
  try {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT id FROM items WHERE id = ?', [
      id,
    ]);
    return rows.length === 1;
  } finally {
    await connection.end();
  }
}

async function insertRow(): Promise<number> {
  const id = nextId++;
  await primary.query('INSERT INTO items (id, label) VALUES (?, ?)', [id, `row ${id}`]);
  return id;
}

beforeAll(async () => {
  schema = await createTestSchema(info, 'repl');
  primary = await connectTo(info.mariadb.primary.port);
  await primary.query('CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL)');
  // The table must exist on both replicas before a test pauses one.
  await waitForReplicaCatchUp(info, 0);
  await waitForReplicaCatchUp(info, 1);
});

afterAll(async () => {
  await primary.end();
  await schema.drop();
});

describe('MariaDB replication in the sandbox', () => {
  it('copies a row written on the primary to every replica', async () => {
    const id = await insertRow();
    for (const index of [0, 1]) {
      await expect.poll(() => replicaHas(index, id), { timeout: 5000, interval: 100 }).toBe(true);
    }
  });

  it('holds rows back while a replica SQL thread is paused, and applies them on resume', async () => {
    await pauseReplicaSqlThread(info, 0);
    try {
      const id = await insertRow();
      // The other replica gets it, so the row was replicated, just not applied on replica 0.
      await expect.poll(() => replicaHas(1, id), { timeout: 5000, interval: 100 }).toBe(true);
      expect(await replicaHas(0, id)).toBe(false);
      const lag = await replicaGtidLag(info, 0);
      expect(lag.transactions).toBeGreaterThan(0);
      expect(lag.sqlRunning).toBe(false);
      expect(lag.secondsBehind).toBeNull();

      await resumeReplicaSqlThread(info, 0);
      await expect.poll(() => replicaHas(0, id), { timeout: 5000, interval: 100 }).toBe(true);
      await waitForReplicaCatchUp(info, 0);
      expect((await replicaGtidLag(info, 0)).transactions).toBe(0);
    } finally {
      await resumeReplicaSqlThread(info, 0);
    }
  });

  it('delays a replica by MASTER_DELAY and applies at once when the delay is cleared', async () => {
    const delaySeconds = 3;
    await setReplicaDelay(info, 1, delaySeconds);
    try {
      const startedAt = performance.now();
      const id = await insertRow();
      await sleep(1000);
      expect(await replicaHas(1, id)).toBe(false);
      expect((await replicaGtidLag(info, 1)).transactions).toBeGreaterThan(0);
      await expect.poll(() => replicaHas(1, id), { timeout: 10_000, interval: 100 }).toBe(true);
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual((delaySeconds - 1) * 1000);

      await setReplicaDelay(info, 1, 0);
      const next = await insertRow();
      await expect.poll(() => replicaHas(1, next), { timeout: 1500, interval: 50 }).toBe(true);
    } finally {
      await setReplicaDelay(info, 1, 0);
    }
  });

  it('keeps the other replica serving while one is stopped, and the stopped one catches up on start', async () => {
    await stopReplica(info, 0);
    try {
      await expect(connectTo(info.mariadb.replicas[0]?.port ?? 0)).rejects.toThrow();
      const id = await insertRow();
      await expect.poll(() => replicaHas(1, id), { timeout: 5000, interval: 100 }).toBe(true);

      await startReplica(info, 0);
      await expect.poll(() => replicaHas(0, id), { timeout: 10_000, interval: 100 }).toBe(true);
    } finally {
      await startReplica(info, 0);
    }
  });
});
