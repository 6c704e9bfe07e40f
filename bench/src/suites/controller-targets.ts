// Runs in a worker thread: the controller daemon and the bare fastify baseline live on their own
// event loop, so autocannon (on the main thread) does not steal their time slices.
import { parentPort, workerData } from 'node:worker_threads';
import { fastify } from 'fastify';
import { pino } from 'pino';
import {
  controllerConfigSchema,
  createControllerDaemon,
  type ControllerDaemon,
} from '@switchboard/controller';
import { createLogger, createMetricsRegistry, loadConfig, systemClock } from '@switchboard/runtime';
import { platformDefaults, type SandboxInfo } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';

export interface ControllerTargetsData {
  readonly sandbox: SandboxInfo;
  readonly nodes: number;
  readonly joinToken: string;
  readonly adminToken: string;
}

export interface ControllerTargets {
  readonly controller: string;
  readonly bare: string;
  readonly ids: readonly string[];
}

if (parentPort === null) throw new Error('controller-targets.js must run in a worker thread');
const port = parentPort;
const data = workerData as ControllerTargetsData;

const config = loadConfig(controllerConfigSchema, {
  env: {
    ...platformDefaults(data.sandbox),
    SWB_NODE_ID: uniqueName('benchctl'),
    SWB_OPS_PORT: '0',
    SWB_API_PORT: '0',
    SWB_API_ADMIN_TOKEN: data.adminToken,
    SWB_API_JOIN_TOKEN: data.joinToken,
    SWB_REGISTRY_NAMESPACE: uniqueName('benchctl'),
    // Heartbeats are limited per node id (6,000 a minute by default); a bench sends far more to
    // each of its ids than a real node would, and must measure the route, not the limiter's 429s.
    SWB_API_RATE_LIMIT_PER_MINUTE: '10000000',
  },
}).config;

const daemon: ControllerDaemon = createControllerDaemon(config, {
  // Errors only: anything the controller logs at that level during a bench is worth seeing.
  logger: createLogger({ level: 'error', name: 'bench-controller' }),
  registry: createMetricsRegistry(),
  clock: systemClock,
});
await daemon.start();
const controller = daemon.url();

const ids = Array.from({ length: data.nodes }, (_, i) => `bench-node-${i}`);
const register = async (id: string): Promise<void> => {
  const response = await fetch(`${controller}/v1/nodes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${data.joinToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, roles: ['worker'], address: '127.0.0.1:9', version: '0.1.0' }),
  });
  if (response.status !== 200) {
    throw new Error(`registering ${id}: ${response.status} ${await response.text()}`);
  }
};
await inBatches(ids, 32, register);

// The baseline: a route of the same shape that parses the same body and answers the same reply.
const bare = fastify({ loggerInstance: pino({ level: 'silent' }) });
bare.put('/v1/nodes/:id/heartbeat', () => ({
  topologyVersion: 1,
  drained: false,
  leaseTtlMs: 6000,
}));
await bare.listen({ host: '127.0.0.1', port: 0 });
const bareAddress = bare.server.address();
if (bareAddress === null || typeof bareAddress === 'string') throw new Error('no bare address');

const ready: ControllerTargets = {
  controller,
  bare: `http://127.0.0.1:${bareAddress.port}`,
  ids,
};
port.postMessage(ready);
port.once('message', () => {
  void close(daemon).then(() => {
    port.close();
  });
});

async function close(running: ControllerDaemon): Promise<void> {
  try {
    // Node records have no TTL (leases do): remove them so the bench leaves nothing behind.
    await inBatches(ids, 64, async (id) => {
      await running.store.forget(id);
    });
  } finally {
    await Promise.all([running.close(), bare.close()]);
  }
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  each: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(each));
  }
}
