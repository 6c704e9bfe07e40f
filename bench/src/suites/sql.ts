import { createPool, createPoolCluster, type Pool } from 'mysql2/promise';
import { QueryTypes, Sequelize } from 'sequelize';
import { createSqlRouter, SqlSession, type SqlRouter } from '@switchboard/storage';
import { createTestSchema } from '@switchboard/sandbox/testing';
import { Better, type BenchSuite } from '../harness.js';
import { opsPerSecond } from '../measure.js';

const ROWS = 1000;
const CONCURRENCY = 16;

/**
 * The SQL router's hot paths against the clients it wraps or replaces: a point select on the
 * read path, an insert on the write path, and a causal read (write, then read your write).
 */
export const sqlSuite: BenchSuite = {
  name: 'sql',
  description:
    'SQL read/write router vs a plain mysql2 pool, mysql2 PoolCluster and Sequelize read replication',
  async setup(context) {
    const info = await context.sandbox();
    const schema = await createTestSchema(info, 'benchsql');
    const { user, password } = info.mariadb;
    const node = (n: { readonly host: string; readonly port: number }) => ({
      host: n.host,
      port: n.port,
      user,
      password,
      database: schema.name,
    });
    const primary = node(info.mariadb.primary);
    const replicas = info.mariadb.replicas.map(node);
    const firstReplica = replicas[0];
    if (firstReplica === undefined) throw new Error('the sql bench needs a replica');
    const poolOptions = { connectionLimit: CONCURRENCY };

    const setupPool = createPool(primary);
    await setupPool.query('CREATE TABLE kv (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)');
    await setupPool.query(
      'CREATE TABLE log (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL)',
    );
    const values = Array.from({ length: ROWS }, (_, i) => [i, `value ${i}`]);
    await setupPool.query('INSERT INTO kv (id, v) VALUES ?', [values]);
    await setupPool.end();

    const topology = {
      primary: { connection: primary },
      replicas: replicas.map((r) => ({ connection: r })),
      pool: poolOptions,
    };
    const router: SqlRouter = createSqlRouter(topology);
    const noCausal: SqlRouter = createSqlRouter({ ...topology, causal: { mode: 'none' } });
    // Both routers know every replica's position before the first sample.
    await Promise.all([router.refresh(), noCausal.refresh()]);

    const rawReplica: Pool = createPool({ ...firstReplica, ...poolOptions });
    const rawPrimary: Pool = createPool({ ...primary, ...poolOptions });
    // point-select: every side reads the same replica (raw-mysql2 can only use one), so the
    // ratios measure the client's overhead, not how many servers share two CPU cores.
    const readRouter: SqlRouter = createSqlRouter({
      primary: { connection: primary },
      replicas: [{ connection: firstReplica }],
      pool: poolOptions,
    });
    const cluster = createPoolCluster();
    cluster.add('PRIMARY', { ...primary, ...poolOptions });
    cluster.add('REPLICA0', { ...firstReplica, ...poolOptions });
    const clusterReplicas = cluster.of('REPLICA*', 'RR');
    const sequelize = new Sequelize(schema.name, user, password, {
      dialect: 'mysql',
      logging: false,
      replication: {
        read: [{ host: firstReplica.host, port: firstReplica.port }],
        write: { host: primary.host, port: primary.port },
      },
      pool: { max: CONCURRENCY, min: 0 },
    });

    const pointSelect = 'SELECT id, v FROM kv WHERE id = ?';
    const insert = 'INSERT INTO log (v) VALUES (?)';
    let counter = 0;
    let version = 0;
    const nextId = (): number => (counter = (counter + 1) % ROWS);
    const loop = (op: () => Promise<unknown>) => () =>
      opsPerSecond(op, { durationMs: context.sampleMs, concurrency: CONCURRENCY });
    const expectRow = (rows: unknown): void => {
      if (!Array.isArray(rows) || rows.length !== 1) throw new Error('point select found no row');
    };
    const writeThenRead = (db: SqlRouter) => async () => {
      const session = new SqlSession();
      const id = nextId();
      // A value never written before: an UPDATE that changes nothing logs no GTID to wait for.
      await db.query('UPDATE kv SET v = ? WHERE id = ?', [`v${++version}`, id], {
        context: session,
      });
      const [rows] = await db.query(pointSelect, [id], { context: session });
      expectRow(rows);
    };

    return {
      cases: [
        {
          name: 'point-select',
          unit: 'ops/s',
          better: Better.Higher,
          sample: loop(async () => {
            expectRow((await readRouter.query(pointSelect, [nextId()]))[0]);
          }),
          baselines: [
            {
              name: 'raw-mysql2',
              goal: 0.97,
              sample: loop(async () => {
                expectRow((await rawReplica.query(pointSelect, [nextId()]))[0]);
              }),
            },
            {
              name: 'pool-cluster',
              goal: 1.0,
              sample: loop(async () => {
                expectRow((await clusterReplicas.query(pointSelect, [nextId()]))[0]);
              }),
            },
            {
              name: 'sequelize',
              goal: 1.0,
              sample: loop(async () => {
                expectRow(
                  await sequelize.query(pointSelect, {
                    replacements: [nextId()],
                    type: QueryTypes.SELECT,
                  }),
                );
              }),
            },
          ],
        },
        {
          name: 'insert',
          unit: 'ops/s',
          better: Better.Higher,
          sample: loop(() => router.query(insert, ['x'])),
          baselines: [
            { name: 'raw-mysql2', goal: 0.97, sample: loop(() => rawPrimary.query(insert, ['x'])) },
          ],
        },
        {
          name: 'causal-read',
          unit: 'ops/s',
          better: Better.Higher,
          sample: loop(writeThenRead(router)),
          baselines: [{ name: 'replica-read', goal: 0.8, sample: loop(writeThenRead(noCausal)) }],
        },
      ],
      async close() {
        await Promise.all([
          router.close(),
          noCausal.close(),
          readRouter.close(),
          rawReplica.end(),
          rawPrimary.end(),
          cluster.end(),
          sequelize.close(),
        ]);
        await schema.drop();
      },
    };
  },
};
