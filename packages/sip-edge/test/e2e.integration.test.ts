// The SIP edge end to end: SIPp phones and PBXs, a real drachtio-server, the edge daemon, and
// the sandbox's MariaDB, Redis Cluster and RabbitMQ. Skipped, with the reason in the suite's
// name, when no drachtio-server or no SIPp is available (see src/testing.ts).
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { createLogger, createMetricsRegistry, loadConfig, systemClock } from '@switchboard/runtime';
import { createSqlRouter, createKv, migrate } from '@switchboard/storage';
import { createTestSchema, uniqueName, type TestSchema } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountStore, sipEdgeMigrations } from '../src/accounts.js';
import { createBindingStore } from '../src/bindings.js';
import { sipEdgeConfigSchema, sipEdgeRequiredWhen } from '../src/config.js';
import { createSipEdgeDaemon, type SipEdgeDaemon } from '../src/daemon.js';
import { createFloodControl } from '../src/flood.js';
import {
  describeRun,
  e2eEnvironment,
  freePort,
  runSipp,
  startDrachtio,
  startFakeController,
  startMd5Relay,
  type DrachtioTarget,
} from '../src/testing.js';

const environment = e2eEnvironment(process.env);
const title = 'the SIP edge with SIPp on a real drachtio-server';

if (environment.skip !== undefined) {
  // Reported as a skipped test naming what is missing, never as a pass.
  describe(title, () => {
    it.skip(`needs a drachtio-server and SIPp: ${environment.skip}`, () => undefined);
  });
} else {
  const { source, sipp } = environment;
  describe(title, () => {
    const info = inject('sandbox');
    const domain = `${uniqueName('e2e')}.test`;
    const password = 'correct horse battery';
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const scanner = uniqueName('eve');
    const pbxPort = { live: 0, dead: 0 };
    const logLines: string[] = [];

    let drachtio: DrachtioTarget;
    let schema: TestSchema;
    let daemon: SipEdgeDaemon;
    let controller: Server;
    let kv: ReturnType<typeof createKv>;
    // SIPp 3.6 speaks MD5 only and answers the first challenge: it goes through this relay.
    let relay: Awaited<ReturnType<typeof startMd5Relay>>;
    let edge: string;
    const cleanup: (() => Promise<void> | void)[] = [];

    beforeAll(async () => {
      drachtio = await startDrachtio(source, process.env);
      cleanup.push(() => drachtio.stop());
      relay = await startMd5Relay(drachtio.sip);
      cleanup.push(() => {
        relay.close();
      });
      edge = relay.address;
      schema = await createTestSchema(info, 'sipedge');
      cleanup.push(() => schema.drop());
      pbxPort.live = await freePort();
      pbxPort.dead = await freePort();
      const logger = createLogger({
        level: 'debug',
        name: 'e2e',
        destination: new Writable({
          write(chunk: Buffer, _encoding, callback) {
            logLines.push(chunk.toString());
            callback();
          },
        }),
      });
      // The accounts, written as an operator would (the edge migrates too; both are idempotent).
      const sql = createSqlRouter({ primary: schema.primaryUri, replicas: [], logger });
      kv = createKv(
        {
          nodes: info.redisCluster.nodes.map((n) => `${n.host}:${String(n.port)}`),
          keyPrefix: 'swb:',
        },
        { logger },
      );
      cleanup.push(() => kv.close());
      await migrate(sql, [sipEdgeMigrations], { logger });
      const accounts = createAccountStore({ sql, kv, logger });
      for (const username of [alice, bob, scanner])
        await accounts.add({ username, domain, password });
      await sql.close();

      const fake = await startFakeController(() => [
        // Listed first: the first call tries it, gets nothing, and fails over.
        { id: 'pbx-dead', address: `127.0.0.1:${String(pbxPort.dead)}` },
        { id: 'pbx-live', address: `127.0.0.1:${String(pbxPort.live)}` },
      ]);
      controller = fake.server;
      cleanup.push(() => {
        controller.closeAllConnections();
        controller.close();
      });
      const { config } = loadConfig(sipEdgeConfigSchema, {
        env: {
          SWB_NODE_ID: uniqueName('edge'),
          SWB_OPS_PORT: '0',
          SWB_SQL_PRIMARY: schema.primaryUri,
          SWB_KV_NODES: info.redisCluster.nodes.map((n) => `${n.host}:${String(n.port)}`).join(','),
          SWB_AMQP_URLS: info.rabbitmq.url,
          SWB_DRACHTIO_HOST: drachtio.host,
          SWB_DRACHTIO_PORT: String(drachtio.port),
          SWB_DRACHTIO_SECRET: drachtio.secret,
          SWB_AUTH_NONCE_SECRET: 'e2e-nonce-secret-0123456789',
          SWB_SIP_DOMAINS: domain,
          SWB_FLOOD_FAILED_AUTH_LIMIT: '3',
          SWB_FLOOD_BAN_MS: '60000',
          SWB_PBX_PROBE_INTERVAL_MS: '600000',
          SWB_PBX_ATTEMPT_TIMEOUT_MS: '1000',
          SWB_CONTROLLER_URLS: fake.url,
          SWB_CONTROLLER_JOIN_TOKEN: 'e2e-token',
        },
        requiredWhen: sipEdgeRequiredWhen,
      });
      daemon = createSipEdgeDaemon(config, {
        logger,
        registry: createMetricsRegistry({ labels: { role: 'sip-edge' } }),
        clock: systemClock,
      });
      cleanup.push(() => daemon.destroy());
      await daemon.start();
      // Connected once drachtio-server accepted the secret: wait for the edge to say so.
      const deadline = Date.now() + 10_000;
      while (!logLines.some((line) => line.includes('drachtio: connected'))) {
        if (Date.now() > deadline) throw new Error(`edge never connected:\n${logLines.join('')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }, 60_000);

    afterAll(async () => {
      // Whatever beforeAll got to, undone in reverse.
      for (const step of cleanup.reverse()) await step();
    });

    it('registers a phone with a digest challenge and its answer', async () => {
      const result = await runSipp(sipp, {
        scenario: 'register.xml',
        target: edge,
        keys: { user: alice, domain },
        auth: { username: alice, password, uri: domain },
      });
      expect(result.code, describeRun(result)).toBe(0);
      const bindings = createBindingStore({ kv });
      const contacts = await bindings.contacts(`sip:${alice}@${domain}`);
      expect(contacts.length).toBe(1);
    });

    it('connects a call to a registered phone', async () => {
      const callee = runSipp(sipp, {
        scenario: 'callee.xml',
        target: edge,
        keys: { user: bob, domain },
        pauseMs: 20_000,
        auth: { username: bob, password, uri: domain },
        extra: ['-oocsf', `${import.meta.dirname}/e2e/callee-answer.xml`],
      });
      try {
        const bindings = createBindingStore({ kv });
        const deadline = Date.now() + 10_000;
        while ((await bindings.contacts(`sip:${bob}@${domain}`)).length === 0) {
          if (Date.now() > deadline) throw new Error('the callee never registered');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const caller = await runSipp(sipp, {
          scenario: 'caller.xml',
          target: edge,
          keys: { user: alice, domain, callee: bob },
          pauseMs: 200,
          auth: { username: alice, password, uri: `${bob}@${domain}` },
        });
        expect(caller.code, describeRun(caller)).toBe(0);
      } finally {
        callee.child.kill('SIGKILL');
        await callee;
      }
    });

    it('routes a dial string to a PBX, failing over from a dead one', async () => {
      const pbx = runSipp(sipp, {
        scenario: 'callee-answer.xml',
        keys: { user: 'pbx' },
        localPort: pbxPort.live,
        calls: 2,
      });
      try {
        // Two calls: with the dead node first in the topology, at least one starts there.
        const caller = await runSipp(sipp, {
          scenario: 'caller.xml',
          target: edge,
          keys: { user: alice, domain, callee: '15551234' },
          pauseMs: 200,
          auth: { username: alice, password, uri: `15551234@${domain}` },
          calls: 2,
          rate: 1,
        });
        expect(caller.code, describeRun(caller)).toBe(0);
        expect((await pbx).code).toBe(0);
      } finally {
        pbx.child.kill('SIGKILL');
      }
      expect(logLines.join('')).toMatch(/pbx-dead/);
    });

    it(
      'bans a source that keeps failing authentication: its REGISTERs go unanswered',
      { timeout: 60_000 },
      async () => {
        const flood = createFloodControl({
          kv,
          logger: createLogger({ level: 'silent', name: 'e2e' }),
        });
        await flood.unban('127.0.0.2');
        try {
          const guessing = await runSipp(sipp, {
            scenario: 'register-wrong-password.xml',
            target: edge,
            keys: { user: scanner, domain },
            auth: { username: scanner, password: 'wrong', uri: domain },
            localIp: '127.0.0.2',
            calls: 5,
            rate: 5,
            limit: 1,
            timeoutSeconds: 20,
            extra: ['-recv_timeout', '2000'],
          });
          // SWB_FLOOD_FAILED_AUTH_LIMIT is 3: the first three guesses get their 401s, then the
          // source is banned and the last two get nothing at all.
          const totals = (counter: string): number =>
            Number(
              [
                ...guessing.stdout.matchAll(
                  new RegExp(`${counter}\\s+\\|\\s+\\d+\\s+\\|\\s+(\\d+)`, 'g'),
                ),
              ].at(-1)?.[1],
            );
          expect(totals('Successful call'), describeRun(guessing)).toBe(3);
          expect(totals('Failed call'), describeRun(guessing)).toBe(2);
          const banned = await runSipp(sipp, {
            scenario: 'register.xml',
            target: edge,
            keys: { user: scanner, domain },
            auth: { username: scanner, password, uri: domain },
            localIp: '127.0.0.2',
            timeoutSeconds: 10,
            extra: ['-recv_timeout', '3000'],
          });
          expect(banned.code, 'the right password from a banned source gets no answer').not.toBe(0);
          const other = await runSipp(sipp, {
            scenario: 'register.xml',
            target: edge,
            keys: { user: scanner, domain },
            auth: { username: scanner, password, uri: domain },
          });
          expect(other.code, describeRun(other)).toBe(0);
        } finally {
          await flood.unban('127.0.0.2');
        }
      },
    );
  });
}
