import type { Topology } from '@switchboard/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PbxNode } from '../src/contracts.js';
import { createPbxPool, pbxNodesFromTopology, type PbxPool } from '../src/index.js';
import { captureLogger } from './invite-fixtures.js';

const pbx1: PbxNode = { id: 'pbx-1', address: '10.0.0.1:5060' };
const pbx2: PbxNode = { id: 'pbx-2', address: '10.0.0.2:5060' };
const pbx3: PbxNode = { id: 'pbx-3', address: '10.0.0.3:5060' };

const pools: PbxPool[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

/** A pool whose probe answers from a table the test edits (missing: answers). */
function pool(options: { probeTimeoutMs?: number } = {}) {
  const answers = new Map<string, boolean | 'hang' | 'throw'>();
  const probed: string[] = [];
  const { logger, lines } = captureLogger();
  const created = createPbxPool({
    logger,
    ...options,
    probe: (node) => {
      probed.push(node.id);
      const answer = answers.get(node.id) ?? true;
      if (answer === 'hang') return new Promise<boolean>(() => undefined);
      if (answer === 'throw') return Promise.reject(new Error('socket closed'));
      return Promise.resolve(answer);
    },
  });
  pools.push(created);
  return { pool: created, answers, probed, lines };
}

const ids = (nodes: PbxNode[]) => nodes.map((node) => node.id);

describe('pbxNodesFromTopology', () => {
  function node(id: string, overrides: Partial<Topology['nodes'][number]> = {}) {
    return {
      id,
      roles: ['pbx' as const],
      address: `${id}.internal:5060`,
      version: '1.0.0',
      status: 'up' as const,
      drained: false,
      registeredAt: '2025-01-01T00:00:00.000Z',
      ...overrides,
    };
  }

  it('keeps the PBX nodes that are up and skips draining, down, drained and other roles', () => {
    const nodes = pbxNodesFromTopology({
      nodes: [
        node('pbx-a'),
        node('pbx-b', { status: 'draining' }),
        node('pbx-c', { status: 'down' }),
        node('pbx-d', { drained: true }),
        node('edge-1', { roles: ['sip-edge'] }),
        node('pbx-e', { roles: ['worker', 'pbx'] }),
      ],
    });
    expect(nodes).toEqual([
      { id: 'pbx-a', address: 'pbx-a.internal:5060' },
      { id: 'pbx-e', address: 'pbx-e.internal:5060' },
    ]);
  });
});

describe('createPbxPool', () => {
  it('orders candidates by fewest active calls', () => {
    const { pool: p } = pool();
    p.setNodes([pbx1, pbx2, pbx3]);
    p.callStarted('pbx-1');
    p.callStarted('pbx-1');
    p.callStarted('pbx-3');
    expect(ids(p.candidates())).toEqual(['pbx-2', 'pbx-3', 'pbx-1']);
    p.callEnded('pbx-1');
    p.callEnded('pbx-1');
    expect(ids(p.candidates())[0]).not.toBe('pbx-3');
    expect(p.activeCalls('pbx-1')).toBe(0);
  });

  it('rotates the first choice among equally loaded nodes', () => {
    const { pool: p } = pool();
    p.setNodes([pbx1, pbx2, pbx3]);
    const firsts = [0, 1, 2, 3, 4, 5].map(() => ids(p.candidates())[0]);
    expect(firsts).toEqual(['pbx-1', 'pbx-2', 'pbx-3', 'pbx-1', 'pbx-2', 'pbx-3']);
  });

  it('makes a PBX that joins the topology a candidate at once, before any probe', () => {
    const { pool: p, probed } = pool();
    p.setNodes([pbx1]);
    p.setNodes([pbx1, pbx2]);
    expect(ids(p.candidates()).sort()).toEqual(['pbx-1', 'pbx-2']);
    expect(probed).toEqual([]);
  });

  it('drops a PBX that leaves the topology', () => {
    const { pool: p } = pool();
    p.setNodes([pbx1, pbx2]);
    p.setNodes([pbx2]);
    expect(ids(p.candidates())).toEqual(['pbx-2']);
  });

  it('takes a node out after two failed probes and brings it back when a probe passes', async () => {
    const { pool: p, answers, lines } = pool();
    p.setNodes([pbx1, pbx2]);
    answers.set('pbx-1', false);

    await p.probeNow();
    expect(ids(p.candidates()).sort()).toEqual(['pbx-1', 'pbx-2']);

    await p.probeNow();
    expect(ids(p.candidates())).toEqual(['pbx-2']);
    expect(p.nodes().find((node) => node.id === 'pbx-1')).toMatchObject({
      healthy: false,
      consecutiveFailures: 2,
    });
    expect(
      lines.some((line) => line.msg === 'pbx node stopped answering probes; no new calls go to it'),
    ).toBe(true);

    answers.set('pbx-1', true);
    await p.probeNow();
    expect(ids(p.candidates()).sort()).toEqual(['pbx-1', 'pbx-2']);
  });

  it('counts a probe that rejects or outlasts its timeout as failed', async () => {
    const { pool: p, answers } = pool({ probeTimeoutMs: 20 });
    p.setNodes([pbx1, pbx2, pbx3]);
    answers.set('pbx-1', 'hang');
    answers.set('pbx-2', 'throw');
    await p.probeNow();
    await p.probeNow();
    expect(ids(p.candidates())).toEqual(['pbx-3']);
  });

  it('keeps the probe state of nodes that stay in the topology', async () => {
    const { pool: p, answers } = pool();
    p.setNodes([pbx1, pbx2]);
    answers.set('pbx-1', false);
    await p.probeNow();
    await p.probeNow();
    p.setNodes([pbx1, pbx2, pbx3]);
    expect(ids(p.candidates()).sort()).toEqual(['pbx-2', 'pbx-3']);
  });

  it('keeps counting calls on a node that left, so its load is right if it returns', () => {
    const { pool: p } = pool();
    p.setNodes([pbx1, pbx2]);
    p.callStarted('pbx-1');
    p.setNodes([pbx2]);
    p.setNodes([pbx1, pbx2]);
    expect(ids(p.candidates())[0]).toBe('pbx-2');
  });

  it('has no candidates when every node fails its probes', async () => {
    const { pool: p, answers } = pool();
    p.setNodes([pbx1]);
    answers.set('pbx-1', false);
    await p.probeNow();
    await p.probeNow();
    expect(p.candidates()).toEqual([]);
  });

  it('probes on its interval once started, and stops when closed', async () => {
    vi.useFakeTimers();
    const { pool: p, probed } = pool();
    p.setNodes([pbx1]);
    p.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(probed).toEqual(['pbx-1']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(probed).toEqual(['pbx-1', 'pbx-1']);
    await p.close();
    await p.close();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(probed).toHaveLength(2);
  });

  it('rejects a nonsensical option at construction', () => {
    const { logger } = captureLogger();
    expect(() =>
      createPbxPool({ logger, probe: () => Promise.resolve(true), failuresToDown: 0 }),
    ).toThrow(/failuresToDown/);
  });
});
