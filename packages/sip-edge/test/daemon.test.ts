import { Writable } from 'node:stream';
import {
  Secret,
  createLogger,
  createMetricsRegistry,
  loadConfig,
  type Component,
} from '@switchboard/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { createSipEdgeDaemon, sipEdgeConfigSchema } from '../src/index.js';

// Port 1 on loopback refuses at once, so dependency checks fail fast without a sandbox.
const env = {
  SWB_NODE_ID: 'sip-edge-1',
  SWB_OPS_PORT: '0',
  SWB_SQL_PRIMARY: 'mysql://root@127.0.0.1:1',
  SWB_KV_NODES: '127.0.0.1:1',
  SWB_AMQP_URLS: 'amqp://127.0.0.1:1',
};

const daemons: Component[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.destroy()));
});

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
});
