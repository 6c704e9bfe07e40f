import { createRequire } from 'node:module';
import {
  composeDaemon,
  createDaemonControllerClient,
  createOpsServer,
  DependencyUnavailableError,
  redactUri,
  type Component,
  type DaemonDeps,
  type ReadinessCheck,
} from '@switchboard/runtime';
import { createBridge } from './bridge.js';
import { createBus } from './bus.js';
import type { QueueConfig } from './config.js';

// Read once at load: the version a node registers with is the package it runs from.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/**
 * The queue daemon: the bus and the bridge from events to jobs, behind the ops endpoint. `/readyz`
 * asks the bus whether its AMQP connection is open and PINGs Redis through BullMQ's connection
 * (protocol checks, not TCP connects). On close: `/readyz` turns `closing`, the bridge stops
 * consuming and finishes the jobs in hand, the bus waits for its confirms, then closes.
 */
export function createQueueDaemon(config: QueueConfig, deps: DaemonDeps): Component {
  const bus = createBus(
    {
      urls: config.amqp.urls,
      source: `queue/${config.nodeId}`,
      connectionName: `switchboard queue ${config.nodeId}`,
      exchange: config.bus.exchange,
      heartbeatSeconds: config.bus.heartbeatSeconds,
      prefetch: config.bus.prefetch,
      maxAttempts: config.bus.maxAttempts,
      buffer: { maxMessages: config.bus.bufferMaxMessages, maxBytes: config.bus.bufferMaxBytes },
      reconnectInitialMs: config.bus.reconnectInitialMs,
      reconnectMaxMs: config.bus.reconnectMaxMs,
      drainTimeoutMs: config.bus.drainTimeoutMs,
    },
    { logger: deps.logger, registry: deps.registry },
  );
  const bridge = createBridge(
    {
      bus,
      redisUrl: config.redis.url,
      queue: config.bridge.queue,
      taskQueue: config.bridge.taskQueue,
      prefix: config.bridge.prefix,
      publishOutcomes: config.bridge.publishOutcomes,
    },
    { logger: deps.logger, registry: deps.registry },
  );
  const checks: ReadinessCheck[] = [
    {
      name: 'amqp',
      target: config.amqp.urls.map(redactUri).join(','),
      check() {
        if (!bus.isConnected()) {
          return Promise.reject(new DependencyUnavailableError('amqp', `bus is ${bus.state}`));
        }
        return Promise.resolve();
      },
    },
    {
      name: 'redis',
      target: redactUri(config.redis.url),
      async check() {
        try {
          await bridge.ping();
        } catch (cause) {
          throw new DependencyUnavailableError(
            'redis',
            cause instanceof Error ? cause.message : String(cause),
            { cause },
          );
        }
      },
    },
  ];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger: deps.logger,
    registry: deps.registry,
    checks,
  });
  // Started last (after the ops server listens, so it registers the bound port) and closed first,
  // so the node leaves the topology before it stops taking work.
  const controller = createDaemonControllerClient(
    config.controller,
    { role: 'queue', nodeId: config.nodeId, version, ops, opsHost: config.ops.host },
    { logger: deps.logger },
  );
  return composeDaemon(ops, controller === undefined ? [bus, bridge] : [bus, bridge, controller]);
}
