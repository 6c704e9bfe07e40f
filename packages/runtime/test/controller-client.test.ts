import { createServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ControllerClientError,
  Secret,
  createControllerClient,
  createDaemonControllerClient,
  createLogger,
  type ControllerClient,
  type ControllerClientOptions,
  type NodeRegistration,
  type Topology,
} from '../src/index.js';

const token = 'join-token-8d1f3c-do-not-log';

const node: NodeRegistration = {
  id: 'worker-test-1',
  roles: ['worker'],
  address: '127.0.0.1:9402',
  version: '0.1.0',
};

function topologyDoc(version: number): Topology {
  return {
    version,
    updatedAt: new Date(0).toISOString(),
    leader: { nodeId: 'ctl-1', fence: 1 },
    nodes: [],
    sql: { primary: { address: 'db-1:3306', healthy: true }, replicas: [] },
    kv: { state: 'ok', groups: [] },
    bus: { endpoints: [] },
    search: { endpoints: [] },
  };
}

/**
 * A controller that speaks the routes the client uses, with its state open to the test. Its
 * state survives `stop()`/`start()` on the same port, so a test can take it down and bring it back.
 */
class FakeController {
  port = 0;
  readonly registrations: NodeRegistration[] = [];
  readonly heartbeats: { id: string; body: unknown }[] = [];
  readonly leaves: string[] = [];
  readonly topologyStatuses: number[] = [];
  readonly known = new Set<string>();
  /** What GET /v1/topology serves; `unknown` so a test can serve an invalid document. */
  document: unknown = topologyDoc(1);
  drained = false;
  /** Hang the lease route, to test close's bound. */
  hangLease = false;
  #server: FastifyInstance | undefined;
  readonly #waiters = new Set<() => void>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get version(): number {
    return (this.document as { version: number }).version;
  }

  setDocument(document: unknown): void {
    this.document = document;
    for (const wake of this.#waiters) wake();
  }

  async start(): Promise<void> {
    const app = Fastify({ forceCloseConnections: true });
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== `Bearer ${token}`) {
        await reply.code(401).send({
          statusCode: 401,
          code: 'SWB_CONTROLLER_UNAUTHORIZED',
          error: 'Unauthorized',
          message: 'missing or wrong token',
        });
      }
    });
    app.post('/v1/nodes', (request, reply) => {
      const body = request.body as NodeRegistration;
      this.registrations.push(body);
      const created = !this.known.has(body.id);
      this.known.add(body.id);
      return reply.code(created ? 201 : 200).send({
        ...body,
        status: 'up',
        drained: this.drained,
        registeredAt: new Date(0).toISOString(),
      });
    });
    app.put('/v1/nodes/:id/heartbeat', (request, reply) => {
      const { id } = request.params as { id: string };
      this.heartbeats.push({ id, body: request.body });
      if (!this.known.has(id)) {
        return reply.code(404).send({
          statusCode: 404,
          code: 'SWB_CONTROLLER_NODE_UNKNOWN',
          error: 'Not Found',
          message: 'unknown node',
        });
      }
      return reply.send({ topologyVersion: this.version, drained: this.drained, leaseTtlMs: 6000 });
    });
    app.delete('/v1/nodes/:id/lease', async (request, reply) => {
      const { id } = request.params as { id: string };
      this.leaves.push(id);
      if (this.hangLease) await new Promise((resolve) => setTimeout(resolve, 5000));
      this.known.delete(id);
      return reply.code(204).send();
    });
    app.get('/v1/topology', async (request, reply) => {
      const query = request.query as { since?: string; waitMs?: string };
      const since = query.since === undefined ? undefined : Number(query.since);
      const newer = (): boolean => since === undefined || this.version > since;
      if (!newer()) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            if (!newer()) return;
            this.#waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(
            () => {
              this.#waiters.delete(wake);
              resolve();
            },
            Math.min(Number(query.waitMs ?? 30_000), 30_000),
          );
          this.#waiters.add(wake);
        });
      }
      const status = newer() ? 200 : 204;
      this.topologyStatuses.push(status);
      return status === 200 ? reply.send(this.document) : reply.code(204).send();
    });
    await app.listen({ host: '127.0.0.1', port: this.port });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    this.port = address.port;
    this.#server = app;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }
}

/** A port nothing listens on: bound, then released. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

function captureLogs() {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'trace',
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
  });
  return {
    logger,
    text: () => lines.join(''),
    messages: () => lines.map((line) => (JSON.parse(line) as { msg?: string }).msg ?? ''),
  };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const controllers: FakeController[] = [];
const clients: ControllerClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  await Promise.all(controllers.splice(0).map((controller) => controller.stop()));
});

async function controller(): Promise<FakeController> {
  const fake = new FakeController();
  controllers.push(fake);
  await fake.start();
  return fake;
}

function client(
  urls: readonly string[],
  options: Partial<ControllerClientOptions> = {},
  logs = captureLogs(),
): ControllerClient {
  const created = createControllerClient(
    {
      urls,
      joinToken: new Secret(token),
      node,
      heartbeatIntervalMs: 50,
      requestTimeoutMs: 500,
      longPollMs: 150,
      retry: { baseMs: 20, maxMs: 100 },
      ...options,
    },
    { logger: logs.logger },
  );
  clients.push(created);
  return created;
}

describe('createControllerClient', () => {
  it('registers the node, then heartbeats with its load', async () => {
    const ctl = await controller();
    let activeJobs = 0;
    const c = client([ctl.url], { load: () => ({ activeJobs: ++activeJobs }) });
    const connected: string[] = [];
    c.on('connected', (url) => connected.push(url));
    await c.start();
    await waitFor('three heartbeats', () => ctl.heartbeats.length >= 3);
    expect(ctl.registrations).toEqual([node]);
    expect(ctl.heartbeats[0]).toEqual({ id: node.id, body: { load: { activeJobs: 1 } } });
    expect(connected).toEqual([ctl.url]);
    expect(c.connectedUrl).toBe(ctl.url);
  });

  it('registers again when the controller answers 404 to a heartbeat, then keeps heartbeating', async () => {
    const ctl = await controller();
    const c = client([ctl.url]);
    await c.start();
    await waitFor('a heartbeat', () => ctl.heartbeats.length >= 1);
    ctl.known.clear();
    await waitFor('a second registration', () => ctl.registrations.length === 2);
    const after = ctl.heartbeats.length;
    await waitFor('heartbeats after it', () => ctl.heartbeats.length >= after + 2);
    expect(ctl.known.has(node.id)).toBe(true);
  });

  it('follows the topology with a long-poll: 200 on a newer version, 204 when the wait passes', async () => {
    const ctl = await controller();
    const c = client([ctl.url]);
    const versions: number[] = [];
    c.on('topology', (t) => versions.push(t.version));
    await c.start();
    await waitFor('the first topology', () => c.topology()?.version === 1);
    await waitFor('a 204 after longPollMs', () => ctl.topologyStatuses.includes(204));
    ctl.setDocument(topologyDoc(2));
    await waitFor('version 2', () => c.topology()?.version === 2);
    ctl.setDocument(topologyDoc(5));
    await waitFor('version 5', () => c.topology()?.version === 5);
    expect(versions).toEqual([1, 2, 5]);
  });

  it('never steps back to an older topology than the one it holds', async () => {
    const newer = await controller();
    newer.setDocument(topologyDoc(7));
    const older = await controller();
    older.setDocument(topologyDoc(3));
    const c = client([newer.url, older.url]);
    const versions: number[] = [];
    c.on('topology', (t) => versions.push(t.version));
    await c.start();
    await waitFor('version 7', () => c.topology()?.version === 7);
    await newer.stop();
    // The client moves to the lagging controller, which holds its long-polls (3 is not > 7).
    await waitFor('a long-poll on the older controller', () => older.topologyStatuses.length > 0);
    expect(c.topology()?.version).toBe(7);
    older.setDocument(topologyDoc(8));
    await waitFor('version 8', () => c.topology()?.version === 8);
    expect(versions).toEqual([7, 8]);
  });

  it('fetches the topology at once when a heartbeat reply announces a newer version', async () => {
    const ctl = await controller();
    // A long-poll far longer than the test: only the heartbeat can bring version 2 in time.
    const c = client([ctl.url], { longPollMs: 10_000 });
    await c.start();
    await waitFor('version 1', () => c.topology()?.version === 1);
    ctl.document = topologyDoc(2); // no wake-up of the parked long-poll
    await waitFor('version 2', () => c.topology()?.version === 2, 1000);
  });

  it('uses the second controller when the first does not answer', async () => {
    const dead = await deadUrl();
    const ctl = await controller();
    const c = client([dead, ctl.url]);
    const connected: string[] = [];
    c.on('connected', (url) => connected.push(url));
    await c.start();
    await waitFor('a heartbeat on the second', () => ctl.heartbeats.length >= 1);
    expect(ctl.registrations).toHaveLength(1);
    expect(connected).toEqual([ctl.url]);
    await waitFor('a topology', () => c.topology() !== undefined);
  });

  it('starts at once without any controller, keeps the last topology while all are down, and recovers', async () => {
    const logs = captureLogs();
    const ctl = await controller();
    const c = client([ctl.url], {}, logs);
    const events: string[] = [];
    c.on('connected', () => events.push('connected'));
    c.on('disconnected', () => events.push('disconnected'));
    await c.start();
    await waitFor('version 1', () => c.topology()?.version === 1);
    await ctl.stop();
    await waitFor('disconnected', () => events.includes('disconnected'));
    // Many retries happen meanwhile; the log says "unreachable" once.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(c.topology()?.version).toBe(1);
    ctl.document = topologyDoc(4);
    await ctl.start();
    await waitFor('version 4', () => c.topology()?.version === 4);
    await waitFor('reachable again', () =>
      logs.messages().some((m) => m === 'controller reachable again'),
    );
    const unreachable = logs.messages().filter((m) => m.startsWith('controller unreachable'));
    expect(unreachable).toHaveLength(1);
    expect(events).toEqual(['connected', 'disconnected', 'connected']);
  });

  it('returns from start() promptly when no controller answers', async () => {
    const c = client([await deadUrl(), await deadUrl()]);
    const began = Date.now();
    await c.start();
    expect(Date.now() - began).toBeLessThan(50);
    expect(c.topology()).toBeUndefined();
    await c.close();
  });

  it('ignores an invalid topology document and logs it', async () => {
    const logs = captureLogs();
    const ctl = await controller();
    const c = client([ctl.url], {}, logs);
    const versions: number[] = [];
    c.on('topology', (t) => versions.push(t.version));
    await c.start();
    await waitFor('version 1', () => c.topology()?.version === 1);
    ctl.setDocument({ version: 2, nodes: 'not a list' });
    await waitFor('the warning', () => logs.messages().includes('invalid topology ignored'));
    expect(c.topology()?.version).toBe(1);
    ctl.setDocument(topologyDoc(3));
    await waitFor('version 3', () => c.topology()?.version === 3);
    expect(versions).toEqual([1, 3]);
  });

  it('emits drained when the heartbeat reply flag changes', async () => {
    const ctl = await controller();
    const c = client([ctl.url]);
    const drained: boolean[] = [];
    c.on('drained', (value) => drained.push(value));
    await c.start();
    await waitFor('a heartbeat', () => ctl.heartbeats.length >= 1);
    expect(c.drained).toBe(false);
    ctl.drained = true;
    await waitFor('drained', () => c.drained);
    ctl.drained = false;
    await waitFor('undrained', () => !c.drained);
    const count = ctl.heartbeats.length;
    await waitFor('more heartbeats', () => ctl.heartbeats.length >= count + 2);
    expect(drained).toEqual([true, false]);
  });

  it('close() releases the lease once, stops heartbeating and is idempotent', async () => {
    const ctl = await controller();
    const c = client([ctl.url]);
    await c.start();
    await waitFor('a heartbeat', () => ctl.heartbeats.length >= 1);
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    await c.close();
    expect(ctl.leaves).toEqual([node.id]);
    const count = ctl.heartbeats.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(ctl.heartbeats.length).toBe(count);
    await expect(c.start()).rejects.toMatchObject({ code: 'SWB_CLOSED' });
  });

  it('close() gives up on the lease after 1 s when the controller hangs', async () => {
    const ctl = await controller();
    ctl.hangLease = true;
    const c = client([ctl.url]);
    await c.start();
    await waitFor('a heartbeat', () => ctl.heartbeats.length >= 1);
    const began = Date.now();
    await c.close();
    expect(Date.now() - began).toBeLessThan(1500);
    expect(ctl.leaves).toEqual([node.id]);
  });

  it('logs a rejected join token once and never writes the token to the log', async () => {
    const logs = captureLogs();
    const ctl = await controller();
    const c = createControllerClient(
      {
        urls: [ctl.url],
        joinToken: new Secret('wrong-token-5e2a-do-not-log'),
        node,
        heartbeatIntervalMs: 50,
        retry: { baseMs: 10, maxMs: 30 },
      },
      { logger: logs.logger },
    );
    clients.push(c);
    await c.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await c.close();
    const rejected = logs.messages().filter((m) => m.startsWith('controller rejected'));
    expect(rejected).toHaveLength(1);
    expect(logs.text()).toContain('SWB_CONTROLLER_CLIENT_REJECTED');
    expect(logs.text()).not.toContain('wrong-token-5e2a');
  });

  it('keeps the token out of logs through a whole life: register, outage, recovery, leave', async () => {
    const logs = captureLogs();
    const ctl = await controller();
    const c = client([await deadUrl(), ctl.url], {}, logs);
    await c.start();
    await waitFor('a topology', () => c.topology() !== undefined);
    await ctl.stop();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await ctl.start();
    await waitFor('reachable again', () => logs.messages().includes('controller reachable again'));
    await c.close();
    expect(logs.text().length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain(token);
  });

  it('rejects unusable options with SWB_CONTROLLER_CLIENT_INVALID_OPTIONS', () => {
    const logs = captureLogs();
    const build = (options: Partial<ControllerClientOptions>) => () =>
      createControllerClient(
        { urls: ['http://127.0.0.1:1'], joinToken: new Secret(token), node, ...options },
        { logger: logs.logger },
      );
    for (const bad of [
      { urls: [] },
      { urls: ['ftp://ctl-1'] },
      { node: { ...node, id: '' } },
      { heartbeatIntervalMs: 0 },
    ]) {
      expect(build(bad)).toThrow(ControllerClientError);
      try {
        build(bad)();
      } catch (error) {
        expect(error).toMatchObject({
          code: 'SWB_CONTROLLER_CLIENT_INVALID_OPTIONS',
          retryable: false,
        });
      }
    }
  });
});

describe('createDaemonControllerClient', () => {
  const config = { urls: [] as string[], heartbeatIntervalMs: 50 };
  const ops = { address: () => ({ host: '0.0.0.0', port: 9402 }) };
  const options = {
    role: 'worker' as const,
    nodeId: node.id,
    version: '1.2.3',
    ops,
    opsHost: '127.0.0.1',
  };

  it('gives no client when no controller is configured', () => {
    expect(
      createDaemonControllerClient(config, options, { logger: captureLogs().logger }),
    ).toBeUndefined();
  });

  it('refuses controller URLs without a join token, naming the variable', () => {
    expect(() =>
      createDaemonControllerClient({ ...config, urls: ['http://127.0.0.1:1'] }, options, {
        logger: captureLogs().logger,
      }),
    ).toThrow(/SWB_CONTROLLER_JOIN_TOKEN is required when SWB_CONTROLLER_URLS is set/);
  });

  it('registers the node with its role, version and the ops port it listens on', async () => {
    const ctl = await controller();
    const created = createDaemonControllerClient(
      { urls: [ctl.url], joinToken: new Secret(token), heartbeatIntervalMs: 50 },
      options,
      { logger: captureLogs().logger },
    );
    if (created === undefined) throw new Error('expected a client');
    clients.push(created);
    await created.start();
    await waitFor('a registration', () => ctl.registrations.length === 1);
    expect(ctl.registrations[0]).toEqual({
      id: node.id,
      roles: ['worker'],
      address: '127.0.0.1:9402',
      version: '1.2.3',
    });
  });
});
