import { describe, expect, it } from 'vitest';
import {
  Better,
  formatTable,
  median,
  ratioOf,
  runCases,
  toJsonLine,
  type PreparedSuite,
} from '../src/harness.js';

function recordingSuite(order: string[], values: Record<string, number[]>): PreparedSuite {
  const sampler = (name: string) => () => {
    order.push(name);
    const next = values[name]?.shift();
    if (next === undefined) throw new Error(`no more samples for ${name}`);
    return Promise.resolve(next);
  };
  return {
    cases: [
      {
        name: 'get',
        unit: 'ops/s',
        better: Better.Higher,
        sample: sampler('project'),
        baselines: [
          { name: 'raw', sample: sampler('raw'), goal: 0.9 },
          { name: 'peer', sample: sampler('peer') },
        ],
      },
    ],
    close: () => Promise.resolve(),
  };
}

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even count', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('ratioOf', () => {
  it('is above 1 when the project is better, whichever way the unit points', () => {
    expect(ratioOf(200, 100, Better.Higher)).toBe(2);
    expect(ratioOf(5, 10, Better.Lower)).toBe(2);
    expect(ratioOf(10, 5, Better.Lower)).toBe(0.5);
  });
});

describe('runCases', () => {
  it('alternates the project and its baselines round by round, flipping the order each round', async () => {
    const order: string[] = [];
    const suite = recordingSuite(order, {
      project: [1, 10, 12, 11],
      raw: [1, 10, 10, 10],
      peer: [1, 5, 5, 5],
    });
    await runCases('kv', suite, { rounds: 3, warmupRounds: 1 });
    expect(order).toEqual([
      ...['project', 'raw', 'peer'],
      ...['peer', 'raw', 'project'],
      ...['project', 'raw', 'peer'],
      ...['peer', 'raw', 'project'],
    ]);
  });

  it('reports medians of the measured rounds only, one result per baseline', async () => {
    const suite = recordingSuite([], {
      project: [1000, 10, 12, 11],
      raw: [1000, 10, 10, 10],
      peer: [1000, 5, 5, 6],
    });
    const results = await runCases('kv', suite, { rounds: 3, warmupRounds: 1 });
    expect(results.map((r) => [r.baseline, r.value, r.baselineValue, r.ratio])).toEqual([
      ['raw', 11, 10, 1.1],
      ['peer', 11, 5, 2.2],
    ]);
    expect(results[0]?.samples).toEqual([10, 12, 11]);
    expect(results[0]?.goal).toBe(0.9);
  });

  it('fails a sample that measured nothing instead of reporting a bogus ratio', async () => {
    const suite = recordingSuite([], { project: [0], raw: [1], peer: [1] });
    await expect(runCases('kv', suite, { rounds: 1, warmupRounds: 0 })).rejects.toThrow(
      /side "project" measured 0/,
    );
  });

  it('runs only the named cases when asked', async () => {
    const order: string[] = [];
    const suite = recordingSuite(order, { project: [1], raw: [1], peer: [1] });
    const results = await runCases('kv', suite, { rounds: 1, warmupRounds: 0, cases: ['set'] });
    expect(results).toEqual([]);
    expect(order).toEqual([]);
  });
});

describe('output', () => {
  const result = {
    suite: 'kv',
    case: 'get',
    unit: 'ops/s',
    value: 12345.678,
    baseline: 'raw-ioredis',
    baselineValue: 12000.2,
    ratio: 1.028806,
  };

  it('prints exactly the documented keys, in order, on one JSON line', () => {
    const line = toJsonLine(result);
    expect(line).not.toContain('\n');
    expect(Object.keys(JSON.parse(line) as object)).toEqual([
      'suite',
      'case',
      'unit',
      'value',
      'baseline',
      'baselineValue',
      'ratio',
    ]);
    expect(JSON.parse(line)).toMatchObject({ value: 12346, baselineValue: 12000, ratio: 1.029 });
  });

  it('shows whether each goal was met in the table', () => {
    const table = formatTable([
      { ...result, goal: 0.95, samples: [], baselineSamples: [] },
      { ...result, ratio: 0.5, goal: 0.95, samples: [], baselineSamples: [] },
    ]);
    expect(table).toMatch(/1\.03×\s+met \(≥ 0\.95×\)/);
    expect(table).toMatch(/0\.50×\s+missed \(≥ 0\.95×\)/);
  });
});
