import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  createMetricsRegistry,
  createOpsServer,
  tcpCheck,
  type OpsServer,
  type OpsServerOptions,
  type ReadinessCheck,
} from '../src/index.js';

const silent = createLogger({ level: 'silent' });
const servers: OpsServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.destroy()));
});

async function startOps(options: Partial<OpsServerOptions> = {}): Promise<{
  server: OpsServer;
  get: (path: string) => Promise<{ status: number; body: string }>;
}> {
  const server = createOpsServer({
    host: '127.0.0.1',
    port: 0,
    logger: silent,
    registry: createMetricsRegistry(),
    ...options,
  });
  servers.push(server);
  await server.start();
  const { port } = server.address();
  return {
    server,
    get: async (path) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: response.status, body: await response.text() };
    },
  };
}

const passing = (name: string): ReadinessCheck => ({ name, check: () => Promise.resolve() });
const failing = (name: string, message: string, critical = true): ReadinessCheck => ({
  name,
  critical,
  check: () => Promise.reject(new Error(message)),
});
const hanging = (name: string): ReadinessCheck => ({
  name,
  check: (signal) =>
    new Promise<void>((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        reject(new Error('aborted'));
      });
    }),
});

describe('ops server', () => {
  it('answers /healthz with 200 while the process is alive', async () => {
    const { get } = await startOps();
    expect(await get('/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
  });

  it('answers /readyz with 200 when every dependency answers', async () => {
    const { get } = await startOps({ checks: [passing('sql.primary'), passing('redis')] });
    const response = await get('/readyz');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      status: 'ready',
      dependencies: [
        { name: 'sql.primary', ok: true, critical: true },
        { name: 'redis', ok: true, critical: true },
      ],
    });
  });

  it('answers /readyz with 503 naming the failing dependency and why, without credentials', async () => {
    const { get } = await startOps({
      checks: [passing('redis'), failing('sql.primary', 'cannot reach mysql://app:hunter2@db')],
    });
    const response = await get('/readyz');
    expect(response.status).toBe(503);
    expect(response.body).not.toContain('hunter2');
    expect(JSON.parse(response.body)).toMatchObject({
      status: 'unready',
      dependencies: [
        { name: 'redis', ok: true },
        { name: 'sql.primary', ok: false, error: 'cannot reach mysql://app:***@db' },
      ],
    });
  });

  it('stays ready when only a non-critical dependency fails', async () => {
    const { get } = await startOps({
      checks: [passing('sql.primary'), failing('sql.replicas[0]', 'down', false)],
    });
    const response = await get('/readyz');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      dependencies: [{ ok: true }, { name: 'sql.replicas[0]', ok: false, critical: false }],
    });
  });

  it('fails a check that does not answer within the timeout, without waiting for it', async () => {
    const { get } = await startOps({
      checks: [passing('redis'), hanging('kv')],
      checkTimeoutMs: 50,
    });
    const began = Date.now();
    const response = await get('/readyz');
    expect(Date.now() - began).toBeLessThan(1000);
    expect(response.status).toBe(503);
    const body = JSON.parse(response.body) as {
      dependencies: { name: string; error?: string; latencyMs: number }[];
    };
    const kv = body.dependencies.find((d) => d.name === 'kv');
    expect(kv?.error).toBe('no answer within 50 ms');
    expect(kv?.latencyMs).toBeGreaterThanOrEqual(45);
  });

  it('answers /readyz with 503 closing once the daemon starts closing', async () => {
    const { server, get } = await startOps({ checks: [passing('redis')] });
    server.markClosing();
    expect(await get('/readyz')).toEqual({ status: 503, body: '{"status":"closing"}' });
    expect((await get('/healthz')).status).toBe(200);
  });

  it('serves Prometheus text with process metrics and a readiness gauge per dependency', async () => {
    const { get } = await startOps({ checks: [passing('redis'), failing('sql.primary', 'down')] });
    const response = await get('/metrics');
    expect(response.status).toBe(200);
    expect(response.body).toContain('process_cpu_user_seconds_total');
    expect(response.body).toContain('swb_dependency_up{dependency="redis",critical="true"} 1');
    expect(response.body).toContain(
      'swb_dependency_up{dependency="sql.primary",critical="true"} 0',
    );
    expect(response.body).toContain('swb_ready 0');
    expect(response.body).toMatch(/swb_dependency_check_seconds\{dependency="redis"\} [\d.e-]+/);
  });

  it('uses the registry it is given, leaving the global one alone', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    await startOps({ registry });
    expect(registry.getSingleMetric('swb_ready')).toBeDefined();
    const { register } = await import('prom-client');
    expect(register.getSingleMetric('swb_ready')).toBeUndefined();
  });

  it('stops listening on close and tells why a busy port cannot be used', async () => {
    const { server } = await startOps();
    const { port } = server.address();
    const clash = createOpsServer({
      host: '127.0.0.1',
      port,
      logger: silent,
      registry: createMetricsRegistry(),
    });
    await expect(clash.start()).rejects.toMatchObject({ code: 'SWB_OPS_LISTEN' });
    await server.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});

describe('tcpCheck', () => {
  let listener: Server | undefined;

  afterEach(async () => {
    const server = listener;
    listener = undefined;
    if (server?.listening === true) await closeServer(server);
  });

  function closeServer(server: Server): Promise<void> {
    return new Promise((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }

  async function listen(): Promise<number> {
    listener = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener?.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  it('passes when the port accepts a connection', async () => {
    const port = await listen();
    await expect(
      tcpCheck('redis', { host: '127.0.0.1', port }).check(new AbortController().signal),
    ).resolves.toBeUndefined();
  });

  it('fails with a retryable error naming the address when nothing listens', async () => {
    const port = await listen();
    if (listener !== undefined) await closeServer(listener);
    await expect(
      tcpCheck('redis', { host: '127.0.0.1', port }).check(new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'SWB_DEPENDENCY_UNAVAILABLE',
      retryable: true,
      message: expect.stringContaining(`cannot connect to 127.0.0.1:${port}`) as unknown,
    });
  });
});
