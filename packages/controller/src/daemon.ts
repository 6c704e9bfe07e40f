import { createRequire } from 'node:module';
import {
  amqpCheck,
  composeDaemon,
  createOpsServer,
  defineComponent,
  kvCheck,
  sqlChecks,
  type Component,
  type DaemonDeps,
} from '@switchboard/runtime';
import { createBus } from '@switchboard/queue';
import { createAccountStore, sipEdgeMigrations } from '@switchboard/sip-edge/accounts';
import { createClusterAdmin, createKv, createSqlRouter, migrate } from '@switchboard/storage';
import { Gauge } from 'prom-client';
import { buildControllerApi, type ControllerApi } from './api.js';
import type { ControllerConfig } from './config.js';
import { LeaderElection } from './leader.js';
import { NodeCache } from './node-cache.js';
import { Plans } from './plans.js';
import { Reconciler, type EventSink } from './reconciler.js';
import { ControllerStore } from './store.js';
import { TopologyFeed } from './topology.js';

// Read once at load: the version a controller registers with is the package it runs from.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** The parts of a running controller, for tests that reach past the HTTP API. */
export interface ControllerDaemon extends Component {
  /** The API's base URL once started (`http://host:port`). */
  url(): string;
  readonly election: LeaderElection;
  readonly reconciler: Reconciler;
  readonly feed: TopologyFeed;
  readonly store: ControllerStore;
  readonly plans: Plans;
}

/**
 * The controller daemon: the management API and dashboard, the node registry (leases in kv),
 * the leader election, and — on the leader only — the reconciler that probes the servers,
 * writes the topology and runs plans. Several run at once; all serve the API.
 *
 * Start order: kv, the bus, the caches, the API, then the election (so a controller only leads
 * once it can serve). Close order is the reverse: the election first releases the leader lease,
 * so another controller takes over at once instead of after the lease's TTL.
 */
export function createControllerDaemon(
  config: ControllerConfig,
  deps: DaemonDeps,
): ControllerDaemon {
  const { logger, clock, registry } = deps;
  const kv = createKv({ nodes: config.kv.nodes, keyPrefix: 'swb:' }, { logger });
  const store = new ControllerStore(kv, {
    namespace: config.registry.namespace,
    leaseTtlMs: config.registry.leaseTtlMs,
  });
  const sql = createSqlRouter({
    primary: config.sql.primary,
    replicas: config.sql.replicas,
    health: { intervalMs: 500, timeoutMs: config.probes.timeoutMs },
    lag: { maxLagMs: config.probes.replicaMaxLagMs },
    pool: { connectionLimit: 2 },
    logger: logger.child({ component: 'sql-probe' }),
  });
  const cluster = createClusterAdmin({
    nodes: config.kv.nodes,
    connectTimeoutMs: config.probes.timeoutMs,
  });
  const bus = createBus(
    {
      urls: config.amqp.urls,
      source: `controller/${config.nodeId}`,
      connectionName: `switchboard controller ${config.nodeId}`,
    },
    { logger, registry },
  );
  let apiUrl = config.api.url ?? `http://${config.api.host}:${config.api.port}`;
  const election = new LeaderElection({
    store,
    nodeId: config.nodeId,
    get url() {
      return apiUrl;
    },
    ttlMs: config.leader.leaseTtlMs,
    clock,
    logger,
  });
  const feed = new TopologyFeed(store, logger, 200);
  const cache = new NodeCache(store, logger, 1000);
  const publish: EventSink = async (name, payload) => {
    await bus.publishEvent(name, payload, { mandatory: false });
  };
  const reconciler = new Reconciler({
    store,
    election,
    feed,
    probes: {
      sql,
      replicaUris: config.sql.replicas,
      cluster,
      amqpUrls: config.amqp.urls,
      searchNodes: config.probes.searchNodes,
      timeoutMs: config.probes.timeoutMs,
    },
    maxLagMs: config.probes.replicaMaxLagMs,
    intervalMs: config.leader.reconcileIntervalMs,
    publish,
    clock,
    logger,
  });
  const plans = new Plans({
    records: store.plans,
    cluster,
    election,
    liveKv: () => {
      const groups = reconciler.status?.probes.kv.groups;
      return Promise.resolve(
        groups === undefined
          ? undefined
          : {
              groups: groups.map((g) => ({
                id: g.id,
                size: 1 + g.replicas.length,
                slots: g.slots,
                keys: g.keys,
                memoryUsedBytes: g.memoryUsedBytes,
              })),
            },
      );
    },
    clock,
    logger,
  });

  new Gauge({
    name: 'swb_controller_leader',
    help: '1 while this controller holds the leader lease',
    registers: [registry],
    collect() {
      this.set(election.isLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'swb_controller_topology_version',
    help: 'The newest topology version this controller serves',
    registers: [registry],
    collect() {
      this.set(feed.version);
    },
  });
  new Gauge({
    name: 'swb_controller_nodes',
    help: 'Registered nodes by status, in the topology this controller serves',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = { up: 0, down: 0, draining: 0 };
      for (const node of feed.current?.nodes ?? []) counts[node.status]++;
      for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });

  // The SIP edge's accounts, for the admin routes. The controller applies the edge's migration
  // too (under migrate()'s lock, idempotent), so accounts can be managed before any edge ran.
  const accounts = createAccountStore({ sql, kv, logger });

  let api: ControllerApi | undefined;
  const server = defineComponent({
    async start() {
      api = await buildControllerApi({
        nodeId: config.nodeId,
        adminToken: config.api.adminToken,
        joinToken: config.api.joinToken,
        rateLimitPerMinute: config.api.rateLimitPerMinute,
        bodyLimitBytes: config.api.bodyLimitBytes,
        store,
        cache,
        feed,
        election,
        plans,
        accounts,
        clock,
        logger,
      });
      await api.listen({ host: config.api.host, port: config.api.port });
      const address = api.server.address();
      if (address !== null && typeof address !== 'string' && config.api.url === undefined) {
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        apiUrl = `http://${host}:${address.port}`;
      }
      logger.info({ url: apiUrl, dashboard: `${apiUrl}/dashboard` }, 'management API listening');
    },
    async close() {
      await api?.close();
    },
    async destroy() {
      api?.server.closeAllConnections();
      await api?.close();
    },
  });

  const stores = defineComponent({
    async start() {
      await kv.ready();
      await feed.start();
      await cache.start();
      const migrated = await migrate(sql, [sipEdgeMigrations], { logger });
      logger.info({ applied: migrated.applied }, 'SIP account table ready');
    },
    async close() {
      await Promise.all([feed.close(), cache.close()]);
      await Promise.allSettled([sql.close(), cluster.close()]);
      await kv.close();
    },
    async destroy() {
      await Promise.all([feed.close(), cache.close()]);
      await Promise.allSettled([sql.destroy(), cluster.close()]);
      kv.destroy();
    },
  });

  // A controller is a node of the platform too: it registers itself in the store (no HTTP round
  // trip to itself) and renews its lease every third of the TTL, so the dashboard lists it.
  let selfTimer: NodeJS.Timeout | undefined;
  const selfRegistration = defineComponent({
    async start() {
      const address = new URL(apiUrl).host;
      await store.register(
        { id: config.nodeId, roles: ['controller'], address, version },
        clock.now(),
      );
      selfTimer = setInterval(
        () => {
          store.heartbeat(config.nodeId, clock.now(), undefined).catch((error: unknown) => {
            logger.warn({ err: error }, 'could not renew this controller’s own lease');
          });
        },
        Math.max(100, Math.floor(config.registry.leaseTtlMs / 3)),
      );
      selfTimer.unref();
    },
    async close() {
      clearInterval(selfTimer);
      await store.leave(config.nodeId).catch((error: unknown) => {
        logger.warn({ err: error }, 'could not end this controller’s own lease');
      });
    },
    destroy() {
      clearInterval(selfTimer);
      return Promise.resolve();
    },
  });

  // A follower's API only marks a plan for applying; the leader picks marked plans up here.
  let resumeTimer: NodeJS.Timeout | undefined;
  const leadership = defineComponent({
    start() {
      resumeTimer = setInterval(() => {
        if (election.isLeader) void plans.resume();
      }, 2000);
      resumeTimer.unref();
      election.on('elected', () => {
        void reconciler.round().then(() => plans.resume());
      });
      election.on('deposed', () => {
        void plans.abortAll();
      });
      election.start();
      reconciler.start();
      return Promise.resolve();
    },
    async close() {
      clearInterval(resumeTimer);
      await reconciler.close();
      await plans.abortAll();
      await election.close();
    },
    async destroy() {
      clearInterval(resumeTimer);
      void plans.abortAll();
      election.destroy();
      await reconciler.close();
    },
  });

  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger,
    registry,
    checks: [...sqlChecks(config.sql), kvCheck(config.kv), amqpCheck(config.amqp)],
  });
  const daemon = composeDaemon(ops, [stores, bus, server, selfRegistration, leadership]);
  return {
    start: () => daemon.start(),
    close: () => daemon.close(),
    destroy: () => daemon.destroy(),
    url: () => apiUrl,
    election,
    reconciler,
    feed,
    store,
    plans,
  };
}
