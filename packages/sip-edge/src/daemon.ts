import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClosedError,
  DependencyUnavailableError,
  amqpCheck,
  backoffDelay,
  composeDaemon,
  createDaemonControllerClient,
  createOpsServer,
  defineComponent,
  envNameFor,
  isRetryable,
  kvCheck,
  sqlChecks,
  type Component,
  type DaemonDeps,
  type Logger,
  type ReadinessCheck,
  type Topology,
} from '@switchboard/runtime';
import { createBus } from '@switchboard/queue';
import { createKv, createSqlRouter, followControllerTopology, migrate } from '@switchboard/storage';
import { createAccountStore, sipEdgeMigrations } from './accounts.js';
import { createBindingStore } from './bindings.js';
import { createCallTracker } from './calls.js';
import type { SipEdgeConfig } from './config.js';
import { createAuthenticator } from './digest.js';
import { createFloodControl } from './flood.js';
import { createInviteHandler } from './invite.js';
import { createPbxPool, pbxNodesFromTopology } from './pbx.js';
import { createRegistrar } from './registrar.js';
import { createDrachtioAdapter } from './srf.js';

// Read once at load: the version a node registers with is the package it runs from.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const drachtioHostEnv = envNameFor('drachtio.host');

/** Without a drachtio-server the edge cannot take a call, so it stays unready and says why. */
function unconfiguredDrachtio(): ReadinessCheck {
  return {
    name: 'drachtio',
    check: () =>
      Promise.reject(
        new DependencyUnavailableError(
          'drachtio',
          `no drachtio-server: ${drachtioHostEnv} is not set`,
        ),
      ),
  };
}

/** The SIP edge as `runMain` runs it, plus the drain state its INVITE handler reads. */
export interface SipEdgeDaemon extends Component {
  /**
   * True while new INVITEs get 503 with Retry-After: from the start of `close()` (the calls in
   * hand finish, up to the shutdown deadline) and while an operator has drained the node.
   */
  draining(): boolean;
}

/**
 * The SIP edge daemon: the ops endpoint (`/readyz`: the drachtio control connection, the SQL
 * primary and replicas, a Redis Cluster seed node, a RabbitMQ node) and, once `drachtio.host` is
 * set, the SIP service on drachtio-server: REGISTER to the registrar (flood control, digest
 * authentication, bindings in kv), INVITE to the call router (registered users, or a PBX node
 * from the controller's topology with failover), OPTIONS answered 200, anything else 405.
 *
 * Start applies the account table's migrations (retrying while SQL is not up yet), starts the
 * bus, the PBX probes and the drachtio connection. Close drains: new INVITEs get 503
 * Retry-After, the calls in hand may finish until the shutdown deadline, then the edge
 * disconnects from drachtio-server and closes its clients.
 *
 * Without `drachtio.host` the edge only serves the ops endpoint (and registers with the
 * controller), unready until a drachtio-server is configured.
 */
export function createSipEdgeDaemon(config: SipEdgeConfig, deps: DaemonDeps): SipEdgeDaemon {
  const { logger } = deps;
  const { host } = config.drachtio;
  if (host === undefined) return createWaitingDaemon(config, deps);
  const nonceSecret = config.auth.nonceSecret;
  if (nonceSecret === undefined) {
    // sipEdgeRequiredWhen makes the loader reject this; the throw guards a config built by hand.
    throw new TypeError(
      `${envNameFor('auth.nonceSecret')} is required when ${drachtioHostEnv} is set`,
    );
  }

  let closing = false;
  let operatorDrained = false;
  const draining = (): boolean => closing || operatorDrained;

  const adapter = createDrachtioAdapter({
    host,
    port: config.drachtio.port,
    secret: config.drachtio.secret,
    reconnect: { baseMs: 250, maxMs: config.drachtio.reconnectMaxMs },
    logger,
  });
  const sql = createSqlRouter({
    primary: config.sql.primary,
    replicas: config.sql.replicas,
    registry: deps.registry,
    logger,
  });
  const kv = createKv({ nodes: config.kv.nodes, keyPrefix: 'swb:' }, { logger });
  const bus = createBus(
    {
      urls: config.amqp.urls,
      source: `sip-edge/${config.nodeId}`,
      connectionName: `switchboard sip-edge ${config.nodeId}`,
    },
    { logger, registry: deps.registry },
  );
  const accounts = createAccountStore({ sql, kv, logger });
  const flood = createFloodControl({ kv, ...config.flood, logger });
  const authenticator = createAuthenticator({
    accounts,
    kv,
    secret: nonceSecret,
    nonceTtlMs: config.auth.nonceTtlMs,
    flood,
    logger,
    clock: deps.clock,
  });
  const bindings = createBindingStore({
    kv,
    minExpires: config.sip.minExpires,
    maxExpires: config.sip.maxExpires,
    clock: deps.clock,
  });
  const registrar = createRegistrar({
    authenticator,
    bindings,
    flood,
    domains: config.sip.domains,
    logger,
    clock: deps.clock,
  });
  const pbx = createPbxPool({
    probe: (node) => adapter.optionsPing(`sip:${node.address}`, config.pbx.probeTimeoutMs),
    probeIntervalMs: config.pbx.probeIntervalMs,
    probeTimeoutMs: config.pbx.probeTimeoutMs,
    failuresToDown: config.pbx.failuresToDown,
    logger,
  });
  const calls = createCallTracker({
    // call.ended carries the CDR the bridge turns into a job: unroutable must be an error.
    // call.started is for whoever listens (dashboards, fraud checks); nobody may.
    publish: (name, payload) =>
      bus.publishEvent(name, payload, { mandatory: name === 'call.ended' }),
    edgeId: config.nodeId,
    clock: deps.clock,
    logger,
  });
  const invite = createInviteHandler({
    srf: adapter,
    authenticator,
    flood,
    bindings,
    userExists: async (username, domain) => (await accounts.get(username, domain)) !== undefined,
    pbx,
    calls,
    localDomains: config.sip.domains,
    draining,
    retryAfterSeconds: config.drain.retryAfterSeconds,
    pbxAttemptTimeoutMs: config.pbx.attemptTimeoutMs,
    edgeId: config.nodeId,
    logger,
  });
  adapter.on('REGISTER', (req, res) => registrar.handle(req, res));
  adapter.on('INVITE', (req, res) => invite.handle(req, res));
  adapter.onCallEnded((callId, reason) => {
    invite.proxiedCallEnded(callId, reason);
  });

  const { ops } = edgeOps(config, deps, adapter.readiness);

  const stopping = new AbortController();

  /** Applies the migrations, waiting for a SQL primary that is not up yet. */
  async function migrateWhenUp(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await migrate(sql, [sipEdgeMigrations], { logger });
        logger.info({ applied: result.applied, skipped: result.skipped }, 'sip-edge tables ready');
        return;
      } catch (error) {
        if (!isRetryable(error)) throw error;
        const retryInMs = backoffDelay(attempt, { baseMs: 500, maxMs: 10_000 });
        logger.warn({ err: error, retryInMs }, 'SQL primary: not available yet; retrying');
        try {
          await sleep(retryInMs, undefined, { signal: stopping.signal });
        } catch {
          throw new ClosedError('closed while starting');
        }
      }
    }
  }

  async function closeClients(how: 'close' | 'destroy'): Promise<void> {
    const results = await Promise.allSettled([
      pbx.close(),
      how === 'close' ? bus.close() : bus.destroy(),
      kv.close(),
      how === 'close' ? sql.close() : sql.destroy(),
    ]);
    for (const result of results) {
      if (result.status === 'rejected') logger.warn({ err: result.reason }, `${how} failed`);
    }
  }

  // Most of the shutdown budget goes to the calls in hand; the rest to closing the clients.
  const drainBudgetMs = Math.floor(config.shutdownTimeoutMs * 0.8);

  const sip = defineComponent({
    async start() {
      await migrateWhenUp();
      await bus.start();
      pbx.start();
      await adapter.start();
      logger.info(
        { drachtio: `${host}:${String(config.drachtio.port)}`, domains: config.sip.domains },
        'sip-edge: taking SIP traffic once drachtio-server is connected',
      );
    },
    async close() {
      closing = true;
      logger.info({ activeCalls: calls.active, drainBudgetMs }, 'draining: new INVITEs get 503');
      const idle = await calls.waitIdle(drainBudgetMs);
      if (!idle) logger.warn({ activeCalls: calls.active }, 'drain deadline: calls still up');
      await adapter.close();
      await closeClients('close');
    },
    async destroy() {
      closing = true;
      stopping.abort();
      await adapter.destroy();
      await closeClients('destroy');
    },
  });

  const controller = createDaemonControllerClient(
    config.controller,
    {
      role: 'sip-edge',
      nodeId: config.nodeId,
      version,
      ops,
      opsHost: config.ops.host,
      load: () => ({ activeCalls: calls.active }),
    },
    { logger },
  );
  // The account reads' replicas follow the controller's view, as the worker's do.
  const sqlFollower = followControllerTopology(
    sql,
    { primary: config.sql.primary, replicas: config.sql.replicas },
    logger,
  );
  controller?.on('topology', (topology: Topology) => {
    const nodes = pbxNodesFromTopology(topology);
    pbx.setNodes(nodes);
    logger.debug({ topologyVersion: topology.version, pbxNodes: nodes.length }, 'PBX nodes');
    sqlFollower.apply(topology);
  });
  controller?.on('drained', (drained) => {
    operatorDrained = drained;
    logger.info({ drained }, drained ? 'drained by an operator' : 'undrained by an operator');
  });

  const daemon = composeDaemon(ops, controller === undefined ? [sip] : [sip, controller]);
  return { ...daemon, draining };
}

/** The ops endpoint, whose `/readyz` checks drachtio first, then SQL, kv and the broker. */
function edgeOps(config: SipEdgeConfig, deps: DaemonDeps, drachtio: ReadinessCheck) {
  const checks = [drachtio, ...sqlChecks(config.sql), kvCheck(config.kv), amqpCheck(config.amqp)];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  return { ops, checks };
}

/** The edge without a drachtio-server: the ops endpoint and the controller registration only. */
function createWaitingDaemon(config: SipEdgeConfig, deps: DaemonDeps): SipEdgeDaemon {
  const { ops, checks } = edgeOps(config, deps, unconfiguredDrachtio());
  logWaiting(deps.logger, checks);
  // Started after the ops server listens (it registers the bound port) and closed first, so the
  // node leaves the topology before anything else stops.
  const controller = createDaemonControllerClient(
    config.controller,
    { role: 'sip-edge', nodeId: config.nodeId, version, ops, opsHost: config.ops.host },
    { logger: deps.logger },
  );
  const daemon = composeDaemon(ops, controller === undefined ? [] : [controller]);
  return { ...daemon, draining: () => false };
}

function logWaiting(logger: Logger, checks: readonly ReadinessCheck[]): void {
  logger.warn(
    `waiting for a drachtio-server to be configured: set ${drachtioHostEnv}; /readyz reports drachtio not ready until then`,
  );
  logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'sip-edge: serving the ops endpoint only; no SIP traffic is handled until a drachtio-server is set',
  );
}
