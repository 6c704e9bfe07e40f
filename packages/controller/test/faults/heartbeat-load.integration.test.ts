import { Agent, request } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Topology } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  adminToken,
  joinToken,
  registration,
  startController,
  waitFor,
  type TestController,
} from '../helpers.js';

const NODES = 2000;
const PERIOD_MS = 2000;
const RUN_MS = 60_000;
const CONNECTIONS = 32;

const info = inject('sandbox');
let ctl: TestController;
// One keep-alive pool for the fleet's heartbeats, as a load balancer in front of it would hold;
// registrations get their own, so the first beats do not queue behind 2,000 registrations.
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const registrationAgent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

beforeAll(async () => {
  // The default lease TTL (6 s, nodes beat every 2 s); the default rate limit too.
  ctl = await startController(info, uniqueName('hbload'));
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
});

afterAll(async () => {
  agent.destroy();
  registrationAgent.destroy();
  await ctl.close();
});

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** One request on the shared pool; resolves once the whole body has arrived. */
function send(
  method: string,
  path: string,
  token: string,
  body?: string,
  pool: Agent = agent,
): Promise<Answer> {
  const url = new URL(ctl.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent: pool,
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe('a fleet of 2,000 nodes', () => {
  it('heartbeating every 2 s for a minute all get 200, and no node ever shows down', async () => {
    const ids = Array.from({ length: NODES }, (_, i) => `load-${i}`);
    const mine = new Set(ids);
    // Every version this controller serves while the fleet runs: a node shown down in any of
    // them would have been routed around by the platform.
    const shownDown: { version: number; id: string }[] = [];
    let versions = 0;
    const onChange = (topology: Topology): void => {
      versions++;
      for (const node of topology.nodes) {
        if (mine.has(node.id) && node.status === 'down') {
          shownDown.push({ version: topology.version, id: node.id });
        }
      }
    };
    ctl.daemon.feed.on('change', onChange);

    const failures: { id: string; status: number; text: string }[] = [];
    const latencies: number[] = [];
    // Latencies of the beats sent once every node has registered and beaten once.
    const steady: number[] = [];
    let steadyFrom = Number.POSITIVE_INFINITY;
    const beat = async (id: string): Promise<void> => {
      const started = performance.now();
      try {
        const answer = await send(
          'PUT',
          `/v1/nodes/${id}/heartbeat`,
          joinToken,
          JSON.stringify({ load: { activeJobs: 1 } }),
        );
        const latency = performance.now() - started;
        latencies.push(latency);
        if (started >= steadyFrom) steady.push(latency);
        if (answer.status !== 200) failures.push({ id, ...answer });
      } catch (error) {
        failures.push({ id, status: 0, text: String(error) });
      }
    };

    try {
      // The fleet registers while it beats (registering 2,000 nodes takes longer than a lease
      // lasts): a node beats in its slots from its registration on, as a real one would, and
      // sends no catch-up beats for the slots it passed before (its registration leased it).
      const isRegistered = new Array<boolean>(NODES).fill(false);
      const registered = ids.map(async (id, index) => {
        const answer = await send(
          'POST',
          '/v1/nodes',
          joinToken,
          registration(id),
          registrationAgent,
        );
        if (answer.status !== 200) {
          throw new Error(`registering ${id}: ${answer.status} ${answer.text}`);
        }
        isRegistered[index] = true;
      });
      const registeredAll = Promise.all(registered).then(() => {
        const at = performance.now();
        steadyFrom = at + PERIOD_MS;
        return at;
      });
      // A failed registration fails the test below; this keeps it from going unhandled meanwhile.
      registeredAll.catch(() => undefined);

      // Beat j is node j mod N at j × (2 s / N): each node every 2 s, the fleet spread evenly.
      const total = NODES * (RUN_MS / PERIOD_MS);
      const slotMs = PERIOD_MS / NODES;
      const inflight: Promise<void>[] = [];
      const started = performance.now();
      let sent = 0;
      // The test's own event loop also serves the controller: its delay is the server's queue.
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      await new Promise<void>((resolve) => {
        let next = 0;
        const tick = (): void => {
          const due = Math.min(total, Math.floor((performance.now() - started) / slotMs) + 1);
          for (; next < due; next++) {
            const index = next % NODES;
            if (!isRegistered[index]) continue;
            sent++;
            inflight.push(beat(ids[index] as string));
          }
          if (next >= total) resolve();
          else setTimeout(tick, 5);
        };
        tick();
      });
      const registeredIn = (await registeredAll) - started;
      await Promise.all(inflight);
      const elapsed = performance.now() - started;
      loopDelay.disable();

      // Right after the last beat every lease is younger than 2 s: none may read down.
      const down = await send('GET', '/v1/nodes?status=down', adminToken);
      expect(down.status).toBe(200);
      expect((JSON.parse(down.text) as { nodes: unknown[] }).nodes).toEqual([]);
      const current = ctl.daemon.feed.current;
      const listed = current?.nodes.filter((n) => mine.has(n.id)) ?? [];
      expect(listed).toHaveLength(NODES);
      expect(listed.every((n) => n.status === 'up')).toBe(true);

      const ms = (value: number): string => `${value.toFixed(1)} ms`;
      const summary = (values: readonly number[]): string => {
        const sorted = [...values].sort((a, b) => a - b);
        return `p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? NaN)}`;
      };
      process.stdout.write(
        `[controller] ${NODES} nodes registered in ${(registeredIn / 1000).toFixed(1)} s; ` +
          `${sent} heartbeats (every node every ${PERIOD_MS / 1000} s from its registration) in ${(elapsed / 1000).toFixed(1)} s: ` +
          `${latencies.length} answered, ${failures.length} failed\n` +
          `[controller] heartbeat latency, all: ${summary(latencies)}; ` +
          `once all had registered and beaten once (${steady.length}): ${summary(steady)}\n` +
          `[controller] event-loop delay p99 ${ms(loopDelay.percentile(99) / 1e6)}, ` +
          `max ${ms(loopDelay.max / 1e6)}; ${versions} topology versions, ` +
          `${shownDown.length} down sightings\n`,
      );

      expect(failures.slice(0, 5)).toEqual([]);
      expect(latencies).toHaveLength(sent);
      // Most of the minute ran with the whole fleet beating.
      expect(steady.length).toBeGreaterThan(total / 2);
      expect(shownDown.slice(0, 5)).toEqual([]);
    } finally {
      ctl.daemon.feed.off('change', onChange);
      // Node records have no TTL: leave nothing behind in kv.
      for (let i = 0; i < ids.length; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map((id) => ctl.daemon.store.forget(id)));
      }
    }
  }, 120_000);
});
