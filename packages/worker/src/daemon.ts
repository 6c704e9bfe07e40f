import {
  composeDaemon,
  createOpsServer,
  directoryCheck,
  redisCheck,
  sqlChecks,
  uriCheck,
  type Component,
  type DaemonDeps,
  type ReadinessCheck,
} from '@switchboard/runtime';
import type { WorkerConfig } from './config.js';

// workerRequiredWhen makes the loader reject a config without these, so the throws only guard
// against a config built by hand.
function blobCheck(blob: WorkerConfig['blob']): ReadinessCheck {
  switch (blob.driver) {
    case 'posix':
      if (blob.root === undefined)
        throw new TypeError('blob.root is required for the posix driver');
      return directoryCheck('blob', blob.root);
    case 's3':
      if (blob.s3.endpoint === undefined) {
        throw new TypeError('blob.s3.endpoint is required for the s3 driver');
      }
      return uriCheck('blob', blob.s3.endpoint);
  }
}

/**
 * The worker daemon. For now a shell: it serves the ops endpoint, whose `/readyz` checks that
 * Redis, the SQL primary (and replicas, not critical) and the blob store answer. Task processing
 * arrives with the task catalogue.
 */
export function createWorkerDaemon(config: WorkerConfig, deps: DaemonDeps): Component {
  const checks = [redisCheck(config.redis), ...sqlChecks(config.sql), blobCheck(config.blob)];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  deps.logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'worker shell: serving the ops endpoint only; no tasks run yet',
  );
  return composeDaemon(ops);
}
