import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Writable } from 'node:stream';
import {
  Secret,
  createLogger,
  createMetricsRegistry,
  loadConfig,
  type Component,
} from '@switchboard/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { createSipEdgeDaemon, sipEdgeConfigSchema, sipEdgeRequiredWhen } from '../src/index.js';

// Port 1 on loopback refuses at once, so dependency checks fail fast without a sandbox.
const env = {
  SWB_NODE_ID: 'sip-edge-1',
  SWB_OPS_PORT: '0',
  SWB_SQL_PRIMARY: 'mysql://root@127.0.0.1:1',
  SWB_KV_NODES: '127.0.0.1:1',
  SWB_AMQP_URLS: 'amqp://127.0.0.1:1',
};

const daemons: Component[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.destroy()));
  for (const server of servers.splice(0)) server.closeAllConnections();
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  return text;
}

/** Just enough of a controller: records registrations and leaves, holds topology polls. */
async function fakeController(): Promise<{
  url: string;
  requests: { method: string; url: string; body: string }[];
}> {
  const requests: { method: string; url: string; body: string }[] = [];
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', body });
      if (request.method === 'POST') {
        response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      } else if (request.method === 'PUT') {
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ topologyVersion: 0, drained: false, leaseTtlMs: 6000 }));
      } else {
        response.writeHead(204).end();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${address.port}`, requests };
}

describe('sip-edge config', () => {
  it('defaults drachtio to port 9022 with its stock secret, held as a Secret', () => {
    const { config } = loadConfig(sipEdgeConfigSchema, { env });
    expect(config.drachtio.host).toBeUndefined();
    expect(config.drachtio.port).toBe(9022);
    expect(config.drachtio.secret).toBeInstanceOf(Secret);
    expect(config.drachtio.secret.reveal()).toBe('cymru');
    expect(config.ops.port).toBe(0);
  });
});

describe('sip-edge daemon', () => {
  it('says it waits for a drachtio-server and reports drachtio unready while none is configured', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { config } = loadConfig(sipEdgeConfigSchema, { env });
    const logger = createLogger({ destination });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const daemon = createSipEdgeDaemon(config, { logger, registry, clock: { now: () => 0 } });
    daemons.push(daemon);
    await daemon.start();

    expect(lines.join('')).toContain(
      'waiting for a drachtio-server to be configured: set SWB_DRACHTIO_HOST',
    );
    const listening = lines
      .map((line) => JSON.parse(line) as { msg: string; url?: string })
      .find((line) => line.msg === 'ops endpoint listening');
    const response = await fetch(`${listening?.url ?? ''}/readyz`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as {
      dependencies: { name: string; ok: boolean; error?: string }[];
    };
    expect(body.dependencies.find((d) => d.name === 'drachtio')).toMatchObject({
      ok: false,
      error: 'no drachtio-server: SWB_DRACHTIO_HOST is not set',
    });
    await daemon.close();
  });

  it('registers with the controller under its bound ops port when one is configured, and leaves on close', async () => {
    const controller = await fakeController();
    const { config } = loadConfig(sipEdgeConfigSchema, {
      env: {
        ...env,
        SWB_CONTROLLER_URLS: controller.url,
        SWB_CONTROLLER_JOIN_TOKEN: 'edge-join-token',
        SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS: '100',
      },
      requiredWhen: sipEdgeRequiredWhen,
    });
    const logger = createLogger({ level: 'silent' });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const daemon = createSipEdgeDaemon(config, { logger, registry, clock: { now: () => 0 } });
    daemons.push(daemon);
    await daemon.start();
    const deadline = Date.now() + 3000;
    while (!controller.requests.some((r) => r.method === 'PUT') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const registration = controller.requests.find((r) => r.method === 'POST');
    const node = JSON.parse(registration?.body ?? '{}') as { address?: string; roles?: string[] };
    expect(node.roles).toEqual(['sip-edge']);
    expect(node.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    await daemon.close();
    expect(controller.requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual([
      '/v1/nodes/sip-edge-1/lease',
    ]);
  });
});

describe('sip-edge controller config', () => {
  it('runs without a controller by default', () => {
    const { config } = loadConfig(sipEdgeConfigSchema, { env, requiredWhen: sipEdgeRequiredWhen });
    expect(config.controller.urls).toEqual([]);
  });

  it('rejects controller URLs without a join token, naming SWB_CONTROLLER_JOIN_TOKEN', () => {
    expect(() =>
      loadConfig(sipEdgeConfigSchema, {
        env: { ...env, SWB_CONTROLLER_URLS: 'http://ctl-1:9400' },
        requiredWhen: sipEdgeRequiredWhen,
      }),
    ).toThrow('SWB_CONTROLLER_JOIN_TOKEN is required when SWB_CONTROLLER_URLS is set');
  });

  it('requires the nonce secret once a drachtio-server is configured, since every edge must share it', () => {
    expect(() =>
      loadConfig(sipEdgeConfigSchema, {
        env: { ...env, SWB_DRACHTIO_HOST: '127.0.0.1' },
        requiredWhen: sipEdgeRequiredWhen,
      }),
    ).toThrow('SWB_AUTH_NONCE_SECRET is required when SWB_DRACHTIO_HOST is set');
    const { config } = loadConfig(sipEdgeConfigSchema, {
      env: {
        ...env,
        SWB_DRACHTIO_HOST: '127.0.0.1',
        SWB_AUTH_NONCE_SECRET: 'a-shared-nonce-secret-0123',
      },
      requiredWhen: sipEdgeRequiredWhen,
    });
    expect(String(config.auth.nonceSecret)).toBe('[redacted]');
  });
});
