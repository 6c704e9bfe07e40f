import { createRequire } from 'node:module';
import {
  DependencyUnavailableError,
  amqpCheck,
  composeDaemon,
  createDaemonControllerClient,
  createOpsServer,
  envNameFor,
  kvCheck,
  sqlChecks,
  tcpCheck,
  type Component,
  type DaemonDeps,
  type ReadinessCheck,
} from '@switchboard/runtime';
import type { SipEdgeConfig } from './config.js';

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

/**
 * The SIP edge daemon. For now a shell: it serves the ops endpoint, whose `/readyz` checks that
 * the drachtio-server, the SQL primary (and replicas, not critical), a Redis Cluster seed node and
 * a RabbitMQ node answer. Registration, authentication and routing come later.
 */
export function createSipEdgeDaemon(config: SipEdgeConfig, deps: DaemonDeps): Component {
  const { host, port } = config.drachtio;
  const drachtio =
    host === undefined ? unconfiguredDrachtio() : tcpCheck('drachtio', { host, port });
  const checks = [drachtio, ...sqlChecks(config.sql), kvCheck(config.kv), amqpCheck(config.amqp)];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  if (host === undefined) {
    deps.logger.warn(
      `waiting for a drachtio-server to be configured: set ${drachtioHostEnv}; /readyz reports drachtio not ready until then`,
    );
  }
  deps.logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'sip-edge shell: serving the ops endpoint only; no SIP traffic is handled yet',
  );
  // Started after the ops server listens (it registers the bound port) and closed first, so the
  // node leaves the topology before anything else stops.
  const controller = createDaemonControllerClient(
    config.controller,
    { role: 'sip-edge', nodeId: config.nodeId, version, ops, opsHost: config.ops.host },
    { logger: deps.logger },
  );
  return composeDaemon(ops, controller === undefined ? [] : [controller]);
}
