import {
  amqpCheck,
  composeDaemon,
  createOpsServer,
  redisCheck,
  type Component,
  type DaemonDeps,
} from '@switchboard/runtime';
import type { QueueConfig } from './config.js';

/**
 * The queue daemon. For now a shell: it serves the ops endpoint, whose `/readyz` checks that a
 * RabbitMQ node and Redis answer. The bus and the bridge from events to jobs come later.
 */
export function createQueueDaemon(config: QueueConfig, deps: DaemonDeps): Component {
  const checks = [amqpCheck(config.amqp), redisCheck(config.redis)];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  deps.logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'queue shell: serving the ops endpoint only; no events are bridged yet',
  );
  return composeDaemon(ops);
}
