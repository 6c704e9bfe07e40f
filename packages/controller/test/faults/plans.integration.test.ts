import { startScratchCluster, type ScratchCluster } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import { createKv, type Kv } from '@switchboard/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PlanRecord } from '../../src/index.js';
import { startController, waitFor, type TestController } from '../helpers.js';

// In the faults project (one file at a time): applying a plan is heavy, and its timing bounds
// hold without other suites competing. A Redis Cluster of its own (slice 2 of the scratch
// range): applying a plan moves slots, which must never happen to the sandbox's shared cluster.
const info = inject('sandbox');
const KEYS = 3000;
let scratch: ScratchCluster;
let seeds: string[];
let spare: string[];
let data: Kv;
const controllers: TestController[] = [];

beforeAll(async () => {
  scratch = await startScratchCluster(info, { nodes: 8, slice: 2 });
  const members = await scratch.create(3, 1);
  seeds = members.map((n) => `${n.host}:${n.port}`);
  spare = scratch.nodes.slice(6).map((n) => `${n.host}:${n.port}`);
  data = createKv({ nodes: seeds, keyPrefix: 'data:' });
  const records = data.records<number>('n');
  for (let i = 0; i < KEYS; i += 500) {
    await records.mset(Array.from({ length: 500 }, (_, j) => [`k${i + j}`, i + j] as const));
  }
});

afterAll(async () => {
  await Promise.allSettled(controllers.map((c) => c.daemon.destroy()));
  await data.close();
  await scratch.stop();
});

async function controller(namespace: string): Promise<TestController> {
  const ctl = await startController(info, namespace, {
    SWB_KV_NODES: seeds.join(','),
    SWB_LEADER_LEASE_TTL_MS: '2000',
  });
  controllers.push(ctl);
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
  await waitFor('a first probe', () => ctl.daemon.reconciler.status);
  return ctl;
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

describe('the planner', () => {
  it('reviews a proposed layout against the seed’s rules', async () => {
    const ctl = await controller(uniqueName('plan'));
    const response = await ctl.call('/v1/plans', {
      method: 'POST',
      body: JSON.stringify({
        sql: { replicas: 5 },
        kv: { groupSizes: [2, 1, 5, 2], memoryPerNodeMb: 1024 },
        search: { nodes: 1 },
        roles: { controller: 1, pbx: 0 },
        storage: { driver: 'posix', totalTb: 40 },
      }),
    });
    expect(response.status).toBe(201);
    const plan = await json<PlanRecord>(response);
    const codes = plan.findings.map((f) => `${f.severity}:${f.code}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        'warning:sql-replicas-beyond-four',
        'error:ag-too-small',
        'warning:ag-too-large',
        'warning:ag-unequal',
        // The scratch cluster has 3 AGs; 4 forces a rebalance, with what it moves.
        'warning:kv-rebalance',
        'warning:search-no-redundancy',
        'warning:role-single-instance',
        'error:role-missing',
        'info:storage-s3-at-scale',
      ]),
    );
    const rebalance = plan.findings.find((f) => f.code === 'kv-rebalance');
    expect(rebalance?.message).toMatch(/about 4096 of 16384 slots, ~7\d\d keys/);

    // Nothing to apply (no kv.target), and errors besides.
    const apply = await ctl.call(`/v1/plans/${plan.id}/apply`, { method: 'POST' });
    expect(apply.status).toBe(409);
    expect(await json(apply)).toMatchObject({ code: 'SWB_CTL_CONFLICT' });
    expect((await ctl.call(`/v1/plans/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('answers 400 naming the problem for a target that names a node already in the cluster', async () => {
    const ctl = controllers[0] ?? (await controller(uniqueName('plan')));
    const response = await ctl.call('/v1/plans', {
      method: 'POST',
      body: JSON.stringify({
        kv: { target: { addGroups: [{ primary: seeds[0], replicas: [spare[0]] }] } },
      }),
    });
    expect(response.status).toBe(400);
    expect((await json<{ message: string }>(response)).message).toContain(
      'already a cluster member',
    );
  });

  it('plans a new AG with its slot moves and estimates, applies it with progress, and resumes after the leader is replaced', async () => {
    const namespace = uniqueName('plan');
    const first = await controller(namespace);
    const created = await json<PlanRecord>(
      await first.call('/v1/plans', {
        method: 'POST',
        body: JSON.stringify({
          kv: { target: { addGroups: [{ primary: spare[0], replicas: [spare[1]] }] } },
        }),
      }),
    );
    expect(created.kv?.moves.length).toBe(3);
    expect(created.kv?.estimate.slots).toBe(4096);
    expect(created.kv?.estimate.keys).toBeGreaterThan(KEYS / 4 - 200);
    expect(created.kv?.estimate.bytes).toBeGreaterThan(0);

    expect((await first.call(`/v1/plans/${created.id}/apply`, { method: 'POST' })).status).toBe(
      202,
    );
    // Let it move some slots, then replace the leader mid-way.
    await waitFor(
      'some slots to move',
      async () => {
        const plan = await json<PlanRecord>(await first.call(`/v1/plans/${created.id}`));
        return (plan.progress?.slotsDone ?? 0) > 0 || plan.state === 'applied' ? plan : undefined;
      },
      30_000,
      20,
    );
    await first.close();
    const second = await controller(namespace);
    const done = await waitFor(
      'the plan to be applied',
      async () => {
        const plan = await json<PlanRecord>(await second.call(`/v1/plans/${created.id}`));
        if (plan.state === 'failed') throw new Error(`plan failed: ${plan.error ?? ''}`);
        return plan.state === 'applied' ? plan : undefined;
      },
      60_000,
      200,
    );
    expect(done.runs).toBeGreaterThanOrEqual(1);
    expect(done.progress?.slotsDone).toBe(4096);
    const layout = await second.daemon.reconciler
      .round()
      .then(() => second.daemon.reconciler.status);
    expect(layout?.probes.kv.groups).toHaveLength(4);
    // Nothing lost on the way.
    const values = await data
      .records<number>('n')
      .mget(Array.from({ length: KEYS }, (_, i) => `k${i}`));
    expect(values.filter((v) => v === undefined)).toHaveLength(0);
    process.stdout.write(
      `[controller] plan applied in ${done.runs} run(s): ${done.result?.slotsMoved ?? 0} slots moved by the last run, ${done.result?.keysMoved ?? 0} keys\n`,
    );
  });
});
