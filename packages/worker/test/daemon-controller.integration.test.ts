// The worker daemon under a controller: it registers, reports its load, stops taking jobs while
// drained and follows the controller's view of the SQL replicas. The controller is a fake (plain
// node:http) driven by the test; Redis and MariaDB are the sandbox's.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  createMetricsRegistry,
  formatHostPort,
  loadConfig,
  systemClock,
  uriHostPort,
  type Topology,
} from '@switchboard/runtime';
import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWorkerDaemon, workerConfigSchema, workerRequiredWhen } from '../src/index.js';
import { cdr, settled } from './helpers.js';

const info = inject('sandbox');
const token = 'worker-join-token-do-not-log';
let schema: TestSchema;
let dir: string;
let queue: Queue;
const queueName = uniqueName('q');
const prefix = uniqueName('p');

interface Controller {
  readonly url: string;
  readonly requests: { method: string; url: string; body: string }[];
  drained: boolean;
  topology: Topology;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  return text;
}

/** Registration, heartbeat and topology (answered at once: no long-poll hold), lease. */
async function fakeController(topology: Topology): Promise<Controller> {
  const state = {
    requests: [] as Controller['requests'],
    drained: false,
    topology,
  };
  const server: Server = createServer((request, response) => {
    void readBody(request).then((body) => {
      state.requests.push({ method: request.method ?? '', url: request.url ?? '', body });
      const json = (status: number, value: unknown): void => {
        response
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify(value));
      };
      if (request.headers.authorization !== `Bearer ${token}`) {
        json(401, { statusCode: 401, code: 'X', error: 'Unauthorized', message: 'no' });
      } else if (request.method === 'POST') {
        json(201, {});
      } else if (request.method === 'PUT') {
        json(200, {
          topologyVersion: state.topology.version,
          drained: state.drained,
          leaseTtlMs: 6000,
        });
      } else if (request.method === 'GET') {
        const since = new URL(request.url ?? '/', 'http://x').searchParams.get('since');
        if (since === null || state.topology.version > Number(since)) json(200, state.topology);
        else setTimeout(() => response.writeHead(204).end(), 100);
      } else {
        response.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return Object.assign(state, {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  });
}

function topology(version: number, replicas: readonly (readonly [string, boolean])[]): Topology {
  return {
    version,
    updatedAt: new Date().toISOString(),
    leader: null,
    nodes: [],
    sql: {
      primary: { address: formatHostPort(uriHostPort(schema.primaryUri)), healthy: true },
      replicas: replicas.map(([address, healthy]) => ({ address, healthy })),
    },
    kv: { state: 'unknown', groups: [] },
    bus: { endpoints: [] },
    search: { endpoints: [] },
  };
}

async function until(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  schema = await createTestSchema(info, 'wkctl');
  dir = await mkdtemp(join(tmpdir(), 'swb-wk-ctl-'));
  queue = new Queue(queueName, { connection: { url: info.redis.url }, prefix });
});

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  await schema.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('the worker daemon under a controller', () => {
  it('registers, takes no jobs while drained, and follows the controller’s SQL replicas', async () => {
    const replicas = schema.replicaUris.map((uri) => formatHostPort(uriHostPort(uri)));
    const controller = await fakeController(
      topology(
        1,
        replicas.map((r) => [r, true] as const),
      ),
    );
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: {
        write(line: string) {
          lines.push(line);
        },
      },
    });
    const messages = () =>
      lines.map((line) => JSON.parse(line) as { msg?: string; left?: string[]; joined?: string[] });
    const { config } = loadConfig(workerConfigSchema, {
      env: {
        SWB_NODE_ID: 'worker-ctl-test',
        SWB_OPS_PORT: '0',
        SWB_REDIS_URL: info.redis.url,
        SWB_SQL_PRIMARY: schema.primaryUri,
        SWB_SQL_REPLICAS: schema.replicaUris.join(','),
        SWB_BLOB_ROOT: join(dir, 'blobs'),
        SWB_SPOOL_DIR: join(dir, 'spool'),
        SWB_QUEUE_NAME: queueName,
        SWB_QUEUE_PREFIX: prefix,
        SWB_SCHEDULES_RETENTION_PURGE_EVERY_MS: '0',
        SWB_CONTROLLER_URLS: controller.url,
        SWB_CONTROLLER_JOIN_TOKEN: token,
        SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS: '100',
      },
      requiredWhen: workerRequiredWhen,
    });
    await mkdir(join(dir, 'blobs'));
    const daemon = createWorkerDaemon(config, {
      logger,
      registry: createMetricsRegistry({ defaultMetrics: false }),
      clock: systemClock,
    });
    await daemon.start();
    try {
      await until('a heartbeat', () => controller.requests.some((r) => r.method === 'PUT'));
      const registration = controller.requests.find((r) => r.method === 'POST');
      expect(JSON.parse(registration?.body ?? '{}')).toMatchObject({
        id: 'worker-ctl-test',
        roles: ['worker'],
      });
      const heartbeat = controller.requests.find((r) => r.method === 'PUT');
      expect(JSON.parse(heartbeat?.body ?? '{}')).toEqual({ load: { activeJobs: 0 } });

      // Drained: a job added now waits; undrained: it runs.
      controller.drained = true;
      await until('the drain applied', () =>
        messages().some((m) => m.msg === 'drained: no job running'),
      );
      const job = await queue.add('cdr.index', { cdr: cdr('drained-call') });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await (await Job.fromId(queue, job.id ?? ''))?.getState()).toBe('waiting');
      controller.drained = false;
      expect((await settled(queue, job.id ?? '')).returnvalue).toMatchObject({ stored: true });

      // The same replicas as configured: the router is left alone.
      expect(messages().some((m) => m.msg === 'SQL replicas changed by the controller')).toBe(
        false,
      );
      const [first] = replicas;
      if (first === undefined) return; // a sandbox without replicas has nothing more to show
      controller.topology = topology(2, [
        [first, false],
        ...replicas.slice(1).map((r) => [r, true] as const),
      ]);
      await until('the replica change', () =>
        messages().some((m) => m.msg === 'SQL replicas changed by the controller'),
      );
      const change = messages().find((m) => m.msg === 'SQL replicas changed by the controller');
      expect(change).toMatchObject({ left: [first], joined: [] });
    } finally {
      await daemon.close();
      await controller.close();
    }
    expect(controller.requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual([
      '/v1/nodes/worker-ctl-test/lease',
    ]);
    expect(lines.join('')).not.toContain(token);
  });
});
