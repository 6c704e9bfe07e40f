// The real drachtio-srf client, through createDrachtioAdapter, against the project's double of
// drachtio-server's control protocol on a loopback socket.
import { Writable } from 'node:stream';
import { Secret, createLogger } from '@switchboard/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { createDrachtioAdapter, type DrachtioAdapter } from '../src/srf.js';
import { sipRequest, startDrachtioDouble, type DrachtioDouble } from './drachtio-double.js';

const secret = `wire-secret-${String(process.pid)}`;

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', name: 'wire', destination }), lines };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setUp(
  adapterSecret = secret,
  options: { answerAppRequest?: (r: { startLine: string }) => number } = {},
): Promise<{ double: DrachtioDouble; adapter: DrachtioAdapter; lines: string[] }> {
  const double = await startDrachtioDouble({ secret, ...options });
  cleanup.push(() => double.close());
  const { logger, lines } = capturingLogger();
  const adapter = createDrachtioAdapter({
    host: '127.0.0.1',
    port: double.port,
    secret: new Secret(adapterSecret),
    reconnect: { baseMs: 20, maxMs: 100 },
    logger,
  });
  cleanup.push(() => adapter.destroy());
  await adapter.start();
  return { double, adapter, lines };
}

async function eventually(condition: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const ready = (adapter: DrachtioAdapter): Promise<boolean> =>
  adapter.readiness.check(new AbortController().signal).then(
    () => true,
    () => false,
  );

describe('the drachtio adapter on the wire', () => {
  it('authenticates with the shared secret, routes every SIP method it answers and is ready', async () => {
    const { double, adapter } = await setUp();
    await double.waitForApp(['invite', 'register', 'options', 'subscribe', 'publish']);
    await eventually(() => adapter.connected);
    expect(await ready(adapter)).toBe(true);
    expect(adapter.hostport).toBe('udp/127.0.0.1:5060');
    expect(double.routes.has('ack')).toBe(false);
  });

  it('stays unready with a wrong secret, retries, and never logs the secret', async () => {
    const { double, adapter, lines } = await setUp('not-the-secret');
    await eventually(() => double.refusals >= 2);
    expect(adapter.connected).toBe(false);
    expect(await ready(adapter)).toBe(false);
    await expect(adapter.readiness.check(new AbortController().signal)).rejects.toThrow(
      /refused the secret/,
    );
    const log = lines.join('');
    expect(log).toContain('authentication failed');
    expect(log).not.toContain('not-the-secret');
    expect(double.authentications).toBe(0);
  });

  it('answers OPTIONS to the edge with 200 and an Allow header', async () => {
    const { double, adapter } = await setUp();
    adapter.on('REGISTER', () => Promise.resolve());
    await double.waitForApp(['options']);
    const response = await double.sendRequest(sipRequest('OPTIONS', 'sip:127.0.0.1:5060'));
    expect(response.status).toBe(200);
    expect(response.headers.get('allow')).toMatch(/OPTIONS/);
    expect(response.headers.get('allow')).toMatch(/REGISTER/);
  });

  it('answers a method without a handler with 405 listing the handled methods in Allow', async () => {
    const { double, adapter } = await setUp();
    adapter.on('REGISTER', () => Promise.resolve());
    adapter.on('INVITE', () => Promise.resolve());
    await double.waitForApp(['subscribe', 'publish']);
    for (const method of ['SUBSCRIBE', 'PUBLISH']) {
      const response = await double.sendRequest(sipRequest(method, 'sip:alice@localhost'));
      expect(response.status).toBe(405);
      const allow = (response.headers.get('allow') ?? '').split(/,\s*/);
      expect(allow).toEqual(expect.arrayContaining(['OPTIONS', 'REGISTER', 'INVITE']));
      expect(allow).not.toContain(method);
    }
  });

  it('answers 500 when a handler rejects, logs it, and keeps serving', async () => {
    const { double, adapter, lines } = await setUp();
    let calls = 0;
    adapter.on('MESSAGE', () => {
      calls += 1;
      return Promise.reject(new Error('handler exploded'));
    });
    adapter.on('INFO', () => {
      throw new Error('thrown synchronously');
    });
    await double.waitForApp(['message', 'info']);
    expect((await double.sendRequest(sipRequest('MESSAGE', 'sip:bob@localhost'))).status).toBe(500);
    expect((await double.sendRequest(sipRequest('INFO', 'sip:bob@localhost'))).status).toBe(500);
    expect((await double.sendRequest(sipRequest('MESSAGE', 'sip:bob@localhost'))).status).toBe(500);
    expect(calls).toBe(2);
    expect(lines.join('')).toContain('handler exploded');
  });

  it('leaves the answer to a handler that answered before failing', async () => {
    const { double, adapter } = await setUp();
    adapter.on('MESSAGE', (_req, res) => {
      res.send(202);
      return Promise.reject(new Error('after answering'));
    });
    await double.waitForApp(['message']);
    expect((await double.sendRequest(sipRequest('MESSAGE', 'sip:bob@localhost'))).status).toBe(202);
  });

  it('gives a REGISTER to its handler: a challenge, then 200 for a request with credentials', async () => {
    const { double, adapter } = await setUp();
    // A stand-in registrar: the digest itself is the registrar's (tested in its own suite).
    adapter.on('REGISTER', (req, res) => {
      if (!req.has('Authorization')) {
        res.send(401, undefined, {
          headers: { 'WWW-Authenticate': 'Digest realm="localhost", nonce="n1", algorithm=MD5' },
        });
      } else {
        res.send(200, undefined, { headers: { Contact: `${req.get('Contact')};expires=60` } });
      }
      return Promise.resolve();
    });
    await double.waitForApp(['register']);
    const challenged = await double.sendRequest(sipRequest('REGISTER', 'sip:localhost'));
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get('www-authenticate')).toMatch(/^Digest realm="localhost"/);
    const accepted = await double.sendRequest(
      sipRequest('REGISTER', 'sip:localhost', {
        cseq: 2,
        headers: ['Authorization: Digest username="alice", realm="localhost", nonce="n1"'],
      }),
    );
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('contact')).toMatch(/expires=60/);
  });

  it('lets an INVITE handler ring and accept, or reject', async () => {
    const { double, adapter } = await setUp();
    adapter.on('INVITE', (req, res) => {
      if (req.uri.startsWith('sip:nobody@')) {
        res.send(404);
        return Promise.resolve();
      }
      res.send(180);
      res.send(200, undefined, { body: 'v=0\r\n', headers: { 'Content-Type': 'application/sdp' } });
      return Promise.resolve();
    });
    await double.waitForApp(['invite']);
    const accepted = await double.sendRequest(
      sipRequest('INVITE', 'sip:bob@localhost', { body: 'v=0\r\n' }),
    );
    expect(accepted.provisional.map((r) => r.status)).toEqual([180]);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toBe('v=0\r\n');
    const rejected = await double.sendRequest(sipRequest('INVITE', 'sip:nobody@localhost'));
    expect(rejected.status).toBe(404);
  });

  it('reconnects when the control connection drops: unready meanwhile, ready again after', async () => {
    const { double, adapter } = await setUp();
    await double.waitForApp(['options']);
    await eventually(() => adapter.connected);
    double.dropConnections();
    await eventually(async () => !(await ready(adapter)));
    await eventually(() => double.authentications >= 2);
    await eventually(() => ready(adapter));
    await double.waitForApp(['options']);
    const response = await double.sendRequest(sipRequest('OPTIONS', 'sip:127.0.0.1:5060'));
    expect(response.status).toBe(200);
  });

  it('pings with OPTIONS: true on an answer below 500, false on 503 and while disconnected', async () => {
    let status = 200;
    const { double, adapter } = await setUp(secret, { answerAppRequest: () => status });
    await double.waitForApp();
    await eventually(() => adapter.connected);
    expect(await adapter.optionsPing('sip:127.0.0.1:5080', 1000)).toBe(true);
    status = 404;
    expect(await adapter.optionsPing('sip:127.0.0.1:5080', 1000)).toBe(true);
    status = 503;
    expect(await adapter.optionsPing('sip:127.0.0.1:5080', 1000)).toBe(false);
    expect(double.appRequests[0]?.startLine).toBe('OPTIONS sip:127.0.0.1:5080 SIP/2.0');
    await adapter.close();
    expect(await adapter.optionsPing('sip:127.0.0.1:5080', 1000)).toBe(false);
  });

  it('waits for a handler in flight on close, then disconnects', async () => {
    const { double, adapter } = await setUp();
    let release: () => void = () => undefined;
    adapter.on('MESSAGE', async (_req, res) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      res.send(200);
    });
    await double.waitForApp(['message']);
    const answered = double.sendRequest(sipRequest('MESSAGE', 'sip:bob@localhost'));
    await eventually(() => adapter.activeRequests === 1);
    let closed = false;
    const closing = adapter.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    release();
    expect((await answered).status).toBe(200);
    await closing;
    await eventually(() => !double.appConnected);
  });
});
