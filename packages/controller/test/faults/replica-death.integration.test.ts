import {
  Secret,
  createControllerClient,
  createLogger,
  type ControllerClient,
  type Topology,
} from '@switchboard/runtime';
import { killReplica, startReplica } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import {
  createSqlRouter,
  sqlReplicaAddresses,
  sqlTopologyFromController,
  type SqlRouter,
  type SqlTopology,
} from '@switchboard/storage';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { joinToken, startController, waitFor, type TestController } from '../helpers.js';

// The live topology path end to end: the leader's probe sees a replica die, writes a new version,
// both controllers serve it, and every router fed by a controller client drops the replica.
const info = inject('sandbox');
const ROUTERS = 4;
const controllers: TestController[] = [];
const clients: ControllerClient[] = [];
const routers: SqlRouter[] = [];

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(routers.map((r) => r.close()));
  await Promise.allSettled(controllers.map((c) => c.close()));
});

describe('a replica dies', () => {
  it('leaves every router’s read pool through the controller’s topology, and comes back', async () => {
    const namespace = uniqueName('rd');
    const env = { SWB_LEADER_RECONCILE_INTERVAL_MS: '250', SWB_PROBES_TIMEOUT_MS: '500' };
    controllers.push(await startController(info, namespace, env));
    controllers.push(await startController(info, namespace, env));
    const urls = controllers.map((c) => c.url);
    await waitFor('a topology with both replicas healthy', () =>
      controllers[0]?.daemon.feed.current?.sql.replicas.filter((r) => r.healthy).length === 2
        ? true
        : undefined,
    );

    const database = info.mariadb.database;
    const configured: SqlTopology = {
      primary: `${info.mariadb.primary.uri}/${database}`,
      replicas: info.mariadb.replicas.map((r) => `${r.uri}/${database}`),
    };
    const dead = info.mariadb.replicas[1];
    if (dead === undefined) throw new Error('the sandbox has two replicas');
    const deadAddress = `${dead.host}:${dead.port}`;
    // When each router's pool lost (and regained) the dead replica, from its controller feed.
    const dropped = new Map<number, number>();
    const regained = new Map<number, number>();
    const logger = createLogger({ level: 'silent' });

    for (let i = 0; i < ROUTERS; i++) {
      // The router's own health checks are slowed right down, so only the controller's topology
      // moves its pool here: this measures the controller path.
      const router = createSqlRouter({
        ...configured,
        health: { intervalMs: 60_000 },
        pool: { connectionLimit: 2 },
      });
      routers.push(router);
      let applied = sqlReplicaAddresses(configured);
      const client = createControllerClient(
        {
          urls: i % 2 === 0 ? urls : [...urls].reverse(),
          joinToken: new Secret(joinToken),
          node: {
            id: uniqueName('router'),
            roles: ['worker'],
            address: '127.0.0.1:9',
            version: 'test',
          },
          heartbeatIntervalMs: 500,
        },
        { logger },
      );
      client.on('topology', (topology: Topology) => {
        const next = sqlTopologyFromController(configured, topology.sql);
        const replicas = sqlReplicaAddresses(next);
        if (replicas.join() === applied.join()) return;
        applied = replicas;
        router.setTopology(next);
        const has = router.nodes().some((n) => n.role === 'replica' && n.name === deadAddress);
        (has ? regained : dropped).set(i, Date.now());
      });
      clients.push(client);
      await client.start();
    }
    await waitFor('every client to hold a topology', () =>
      clients.every((c) => c.topology() !== undefined) ? true : undefined,
    );

    const killedAt = Date.now();
    await killReplica(info, 1);
    try {
      await waitFor(
        'every router to drop the dead replica',
        () => (dropped.size === ROUTERS ? true : undefined),
        20_000,
        10,
      );
      const times = [...dropped.values()].map((t) => t - killedAt).sort((a, b) => a - b);
      const last = times.at(-1) ?? 0;
      for (const router of routers) {
        expect(router.nodes().some((n) => n.name === deadAddress)).toBe(false);
      }
      const reason = controllers[0]?.daemon.feed.current?.sql.replicas.find(
        (r) => r.address === deadAddress,
      )?.reason;
      expect(reason).toMatch(/unreachable/);
      process.stdout.write(
        `[controller] replica death → router pool change: first ${times[0] ?? 0} ms, last ${last} ms after the kill (${ROUTERS} routers, 2 controllers, reconcile every 250 ms)\n`,
      );
      // Bounded by one probe timeout plus a reconcile round, the feed poll and a long-poll reply.
      expect(last).toBeLessThan(5000);
    } finally {
      await startReplica(info, 1);
    }
    await waitFor(
      'every router to take the replica back',
      () => (regained.size === ROUTERS ? true : undefined),
      30_000,
      20,
    );
  });
});
