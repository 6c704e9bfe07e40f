import {
  amqpCheck,
  composeDaemon,
  createOpsServer,
  kvCheck,
  sqlChecks,
  type Component,
  type DaemonDeps,
} from '@switchboard/runtime';
import type { ControllerConfig } from './config.js';

/**
 * The controller daemon. For now a shell: it serves the ops endpoint, whose `/readyz` checks that
 * the SQL primary (and replicas, not critical), a Redis Cluster seed node and a RabbitMQ node
 * answer. The registry, topology, planner and management API come later.
 */
export function createControllerDaemon(config: ControllerConfig, deps: DaemonDeps): Component {
  const checks = [...sqlChecks(config.sql), kvCheck(config.kv), amqpCheck(config.amqp)];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  deps.logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'controller shell: serving the ops endpoint only; no management API yet',
  );
  return composeDaemon(ops);
}
