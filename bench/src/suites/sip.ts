// The SIP edge under SIPp load, against a trivial drachtio-srf app on a drachtio-server of its
// own (same binary, same settings): what the edge's flood check, digest authentication, kv
// bindings and B2BUA routing cost per transaction. Needs a `drachtio` binary (PATH or
// DRACHTIO_BIN) and SIPp (PATH or SIPP_BIN); without them the suite says so and measures nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Srf from 'drachtio-srf';
import { createLogger, loadConfig, systemClock, createMetricsRegistry } from '@switchboard/runtime';
import { createTestSchema } from '@switchboard/sandbox/testing';
import {
  createAccountStore,
  createSipEdgeDaemon,
  sipEdgeConfigSchema,
  sipEdgeMigrations,
  sipEdgeRequiredWhen,
} from '@switchboard/sip-edge';
import {
  findOnPath,
  freePort,
  runSipp,
  scenarioDir,
  startDrachtio,
  startFakeController,
  startMd5Relay,
  type DrachtioTarget,
} from '@switchboard/sip-edge/testing';
import { createKv, createSqlRouter, migrate } from '@switchboard/storage';
import { Better, type BenchSuite } from '../harness.js';

/**
 * Runs SIPp for `calls` calls; resolves with the successful calls per second. SIPp exits 1 when
 * a call failed: that fails the sample unless the failures stay within `tolerated` (a share of
 * the calls), which a full call over UDP gets for the odd message lost under overload.
 */
async function sippRate(
  sipp: string,
  target: string,
  scenario: string,
  calls: number,
  args: readonly string[],
  tolerated = 0,
): Promise<number> {
  const { code, stdout, stderr, elapsedMs } = await runSipp(sipp, {
    target,
    scenario,
    calls,
    rate: 5000,
    limit: 50,
    timeoutSeconds: 120,
    extra: ['-recv_timeout', '5000', ...args],
  });
  const successful = Number(
    [...stdout.matchAll(/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/g)].at(-1)?.[1] ?? 0,
  );
  const withinTolerance = code === 1 && calls - successful <= Math.floor(calls * tolerated);
  if (code !== 0 && withinTolerance) {
    // Left out of the rate, and said, so a reader of the run sees the loss.
    process.stderr.write(
      `\nsip: ${String(calls - successful)} of ${String(calls)} calls failed against ${target} (tolerated)\n`,
    );
  }
  if (code !== 0 && !withinTolerance) {
    throw new Error(
      `sipp ${scenario} against ${target} exited ${String(code)}: ${String(successful)}/${String(calls)} calls succeeded\n${stderr.split('\n').slice(-14, -6).join('\n')}`,
    );
  }
  return successful / (elapsedMs / 1000);
}

interface TrivialRequest {
  readonly method: string;
  has(name: string): boolean;
}
interface TrivialResponse {
  send(status: number, opts?: { headers?: Record<string, string>; body?: string }): void;
}
interface TrivialSrf {
  connect(options: { host: string; port: number; secret: string }): unknown;
  on(event: 'connect' | 'error', listener: (err: unknown) => void): unknown;
  use(handler: (req: TrivialRequest, res: TrivialResponse) => void): unknown;
  use(method: string, handler: (req: TrivialRequest, res: TrivialResponse) => void): unknown;
  disconnect(): void;
}

const sdp =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';

/**
 * The baseline: a drachtio-srf app that checks nothing. It plays the same message pattern as
 * the edge, so both sides handle the same transactions: a REGISTER or INVITE without credentials
 * gets a fixed MD5 challenge (the edge challenges too), anything else 200 (with SDP for INVITE).
 */
async function startTrivialApp(drachtio: DrachtioTarget): Promise<{ close(): void }> {
  const srf = new (Srf as unknown as new () => TrivialSrf)();
  const challenge = (name: string) => ({
    [name]: 'Digest realm="bench.test", nonce="bench", algorithm=MD5, qop="auth"',
  });
  const answer = (req: TrivialRequest, res: TrivialResponse): void => {
    if (req.method === 'REGISTER' && !req.has('Authorization')) {
      res.send(401, { headers: challenge('WWW-Authenticate') });
    } else if (req.method === 'INVITE' && !req.has('Proxy-Authorization')) {
      res.send(407, { headers: challenge('Proxy-Authenticate') });
    } else if (req.method === 'INVITE') {
      res.send(200, { body: sdp, headers: { 'Content-Type': 'application/sdp' } });
    } else {
      res.send(200);
    }
  };
  for (const method of ['register', 'invite', 'bye', 'options']) srf.use(method, answer);
  const connected = new Promise<void>((resolve, reject) => {
    srf.on('connect', (err) => {
      if (err) reject(err instanceof Error ? err : new Error('drachtio-server refused the app'));
      else resolve();
    });
  });
  srf.on('error', () => undefined);
  srf.connect({ host: '127.0.0.1', port: drachtio.port, secret: drachtio.secret });
  await connected;
  return {
    close() {
      srf.disconnect();
    },
  };
}

export const sipSuite: BenchSuite = {
  name: 'sip',
  description:
    'the SIP edge (flood check, digest auth, kv bindings, B2BUA to a PBX) vs a trivial drachtio-srf app, both under SIPp',
  async setup(context) {
    const sipp = process.env.SIPP_BIN ?? findOnPath('sipp', process.env.PATH);
    const binary = process.env.DRACHTIO_BIN ?? findOnPath('drachtio', process.env.PATH);
    if (sipp === undefined || binary === undefined) {
      context.progress(
        `sip: skipped, nothing measured: ${sipp === undefined ? 'no sipp (PATH or SIPP_BIN)' : 'no drachtio binary (PATH or DRACHTIO_BIN)'}`,
      );
      return { cases: [], close: () => Promise.resolve() };
    }
    const info = await context.sandbox();
    const cleanup: (() => Promise<void> | void)[] = [];
    const close = async (): Promise<void> => {
      for (const step of cleanup.reverse()) await step();
    };
    try {
      // fatal: without a queue daemon bound to the events exchange every call.started and
      // call.ended comes back NO_ROUTE and is logged as an error, which would drown the table.
      const logger = createLogger({ level: 'fatal', name: 'bench-sip' });
      const schema = await createTestSchema(info, 'benchsip');
      cleanup.push(() => schema.drop());
      const kvNodes = info.redisCluster.nodes.map((n) => `${n.host}:${String(n.port)}`);
      const domain = 'bench.test';
      const password = 'bench password';
      const sql = createSqlRouter({ primary: schema.primaryUri, replicas: [], logger });
      const kv = createKv({ nodes: kvNodes, keyPrefix: 'swb:' }, { logger });
      await migrate(sql, [sipEdgeMigrations], { logger });
      // Each concurrent registration is a phone of its own: one AOR registering 50 times at once
      // would measure compare-and-set contention, not the registrar. SIPp 3.6 takes one digest
      // username (-au), so the phones are `phone` in 200 domains of their own.
      const accounts = createAccountStore({ sql, kv, logger });
      const phoneDomains = Array.from({ length: 200 }, (_, i) => `p${String(i)}.${domain}`);
      await accounts.add({ username: 'alice', domain, password });
      for (const phoneDomain of phoneDomains) {
        await accounts.add({ username: 'phone', domain: phoneDomain, password });
      }
      await sql.close();
      await kv.close();

      // Both servers log at notice: a line per SIP message would load them as much as the apps.
      const drachtioEnv = { DRACHTIO_LOG_LEVEL: 'notice', ...process.env };
      const edgeServer = await startDrachtio({ kind: 'binary', path: binary }, drachtioEnv);
      cleanup.push(() => edgeServer.stop());
      const baseServer = await startDrachtio({ kind: 'binary', path: binary }, drachtioEnv);
      cleanup.push(() => baseServer.stop());
      const edgeRelay = await startMd5Relay(edgeServer.sip);
      cleanup.push(() => {
        edgeRelay.close();
      });
      const baseRelay = await startMd5Relay(baseServer.sip);
      cleanup.push(() => {
        baseRelay.close();
      });

      // The PBX: a SIPp UAS answering every call until the suite closes.
      const pbxPort = await freePort();
      const pbx: ChildProcess = spawn(
        sipp,
        [
          '-sf',
          join(scenarioDir, 'callee-answer.xml'),
          '-key',
          'user',
          'pbx',
          '-p',
          String(pbxPort),
          '-i',
          '127.0.0.1',
          '-nostdin',
        ],
        { stdio: 'ignore' },
      );
      cleanup.push(() => {
        pbx.kill('SIGKILL');
      });
      const { server: controller, url: controllerUrl } = await startFakeController(() => [
        { id: 'bench-pbx', address: `127.0.0.1:${String(pbxPort)}` },
      ]);
      cleanup.push(() => {
        controller.closeAllConnections();
        controller.close();
      });

      const { config } = loadConfig(sipEdgeConfigSchema, {
        env: {
          SWB_NODE_ID: 'bench-edge',
          SWB_OPS_PORT: '0',
          SWB_LOG_LEVEL: 'warn',
          SWB_SQL_PRIMARY: schema.primaryUri,
          SWB_KV_NODES: kvNodes.join(','),
          SWB_AMQP_URLS: info.rabbitmq.url,
          SWB_DRACHTIO_HOST: '127.0.0.1',
          SWB_DRACHTIO_PORT: String(edgeServer.port),
          SWB_DRACHTIO_SECRET: edgeServer.secret,
          SWB_AUTH_NONCE_SECRET: 'bench-nonce-secret-0123456789',
          SWB_SIP_DOMAINS: [domain, ...phoneDomains].join(','),
          // Load from one address is the point here, not an attack.
          SWB_FLOOD_MAX_REQUESTS: '1000000',
          SWB_PBX_PROBE_INTERVAL_MS: '600000',
          SWB_CONTROLLER_URLS: controllerUrl,
          SWB_CONTROLLER_JOIN_TOKEN: 'bench',
        },
        requiredWhen: sipEdgeRequiredWhen,
      });
      const daemon = createSipEdgeDaemon(config, {
        logger,
        registry: createMetricsRegistry({ labels: { role: 'sip-edge' } }),
        clock: systemClock,
      });
      cleanup.push(() => daemon.destroy());
      await daemon.start();
      const app = await startTrivialApp(baseServer);
      cleanup.push(() => {
        app.close();
      });
      // The edge connects in the background; an OPTIONS answered 200 says it is routing.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await sippRate(sipp, edgeRelay.address, 'options.xml', 1, []);
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }

      // Sized so the slower side (the edge: ~1,500 registrations/s, ~450 calls/s on a laptop-class
      // machine) takes about sampleMs.
      const registers = Math.max(200, Math.round(context.sampleMs * 1.5));
      const callCount = Math.max(100, Math.round(context.sampleMs * 0.4));
      const auth = ['-au', 'alice', '-ap', password];
      // register-auth allows no failure; a full call may lose 1 in 50 (either side) at
      // saturation, each loss reported on stderr and left out of the rate (successful calls only).
      const callLoss = 0.02;
      // register.xml with the AOR's domain taken from an injection file, one phone per call.
      const work = mkdtempSync(join(tmpdir(), 'swb-bench-sip-'));
      cleanup.push(() => {
        rmSync(work, { recursive: true, force: true });
      });
      const registerScenario = join(work, 'register-phones.xml');
      writeFileSync(
        registerScenario,
        readFileSync(join(scenarioDir, 'register.xml'), 'utf8')
          // The Request-URI stays the platform's domain (SIPp's digest URI is one for all calls);
          // the AOR, and so the realm, is the phone's own.
          .replaceAll('REGISTER sip:[domain]', `REGISTER sip:${domain}`)
          .replaceAll('[domain]', '[field0]'),
      );
      const phonesFile = join(work, 'phones.csv');
      writeFileSync(phonesFile, ['SEQUENTIAL', ...phoneDomains, ''].join('\n'));
      const registerArgs = [
        ...['-inf', phonesFile, '-au', 'phone', '-ap', password, '-auth_uri', domain],
        ...['-key', 'user', 'phone'],
      ];
      const callArgs = [
        ...auth,
        '-auth_uri',
        `15551234@${domain}`,
        '-key',
        'user',
        'alice',
        '-key',
        'domain',
        domain,
        '-key',
        'callee',
        '15551234',
        '-d',
        '0',
      ];
      return {
        cases: [
          {
            name: 'register-auth',
            unit: 'registrations/s',
            better: Better.Higher,
            sample: () =>
              sippRate(sipp, edgeRelay.address, registerScenario, registers, registerArgs),
            baselines: [
              {
                name: 'trivial-app',
                goal: 0.5,
                sample: () =>
                  sippRate(sipp, baseRelay.address, registerScenario, registers, registerArgs),
              },
            ],
          },
          {
            name: 'call-routed',
            unit: 'calls/s',
            better: Better.Higher,
            sample: () =>
              sippRate(sipp, edgeRelay.address, 'caller.xml', callCount, callArgs, callLoss),
            baselines: [
              {
                name: 'trivial-app',
                goal: 0.5,
                sample: () =>
                  sippRate(sipp, baseRelay.address, 'caller.xml', callCount, callArgs, callLoss),
              },
            ],
          },
        ],
        close,
      };
    } catch (error) {
      await close();
      throw error;
    }
  },
};
