import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { Better, median, type BenchSuite } from '../harness.js';
import type { ControllerTargets, ControllerTargetsData } from './controller-targets.js';

const NODES = 1000;
/**
 * Heartbeats come from many nodes at once, each on its own keep-alive connection (the 2,000-node
 * fleet test uses 32): 32 connections model that. It matters for the ratio, because the
 * controller writes the leases of concurrent heartbeats together (one Redis round trip per
 * batch): with autocannon's default 10 connections it measured 0.51×, with 32 0.72×, the bare
 * route near its own ceiling in both.
 */
const CONNECTIONS = 32;
const joinToken = 'bench-join-token-0123456789abcdef';
const adminToken = 'bench-admin-token-0123456789abcdef';
const body = JSON.stringify({ load: { activeCalls: 3, activeJobs: 1 } });

/**
 * The controller's hottest route: `PUT /v1/nodes/:id/heartbeat` of a real daemon on the sandbox
 * (token check, schema, node cache, the lease written to kv with its TTL, batched with the
 * heartbeats that arrive in the same event-loop turn), spread
 * over 1,000 registered nodes, against a bare fastify route of the same shape on the same thread
 * layout, loaded by the same autocannon settings.
 */
export const controllerSuite: BenchSuite = {
  name: 'controller',
  description: 'node heartbeats on a real controller (lease write to kv) vs a bare fastify route',
  async setup(context) {
    const sandbox = await context.sandbox();
    const data: ControllerTargetsData = { sandbox, nodes: NODES, joinToken, adminToken };
    const targets = new Worker(new URL('./controller-targets.js', import.meta.url), {
      workerData: data,
    });
    const [ready] = (await once(targets, 'message')) as [ControllerTargets];

    // Every connection walks the same 1,000 paths: each node's lease is rewritten many times a
    // sample, as in a real fleet, and the baseline gets the very same request bytes.
    const requests = ready.ids.map((id) => ({ path: `/v1/nodes/${id}/heartbeat` }));
    const p99 = new Map<string, number[]>();
    const load = (side: string, base: string) => async (): Promise<number> => {
      const result = await autocannon({
        url: base,
        duration: Math.max(1, context.sampleMs / 1000),
        connections: CONNECTIONS,
        pipelining: 1,
        method: 'PUT',
        headers: { authorization: `Bearer ${joinToken}`, 'content-type': 'application/json' },
        body,
        requests,
      });
      if (result.errors > 0 || result.non2xx > 0) {
        throw new Error(
          `load on ${base} (${side}): ${result.errors} errors, ${result.non2xx} non-2xx answers of ${result.requests.total}`,
        );
      }
      const list = p99.get(side) ?? [];
      list.push(result.latency.p99);
      p99.set(side, list);
      return result.requests.total / result.duration;
    };

    return {
      cases: [
        {
          name: 'heartbeat',
          unit: 'req/s',
          better: Better.Higher,
          sample: load('project', ready.controller),
          baselines: [
            { name: 'bare-fastify', goal: 0.6, sample: load('bare-fastify', ready.bare) },
          ],
        },
      ],
      async close() {
        targets.postMessage('close');
        await once(targets, 'exit');
        // The table has room for one unit; the latency under the same load goes to stderr.
        const line = [...p99].map(([side, values]) => `${side} ${median(values)} ms`).join(', ');
        if (line !== '') {
          process.stderr.write(`[controller] heartbeat p99 latency (median of samples): ${line}\n`);
        }
      },
    };
  },
};
