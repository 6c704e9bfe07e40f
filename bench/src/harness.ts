/**
 * The bench harness: every case runs the project's path and each of its baselines
 * alternately (A B A B …) over several rounds in the same run, so that whatever else
 * the machine does (a GC pause, a noisy neighbour, a warming cache) falls on both
 * sides alike; it reports the medians and the ratio of the two.
 */
import type { SandboxInfo } from '@switchboard/sandbox';

/** One measurement round of one side; resolves to a value in the case's unit. */
export type Sampler = () => Promise<number>;

export const Better = {
  /** Throughput-like units: ops/s, MiB/s, req/s. */
  Higher: 'higher',
  /** Latency-like units: ms, µs. */
  Lower: 'lower',
} as const;
export type Better = (typeof Better)[keyof typeof Better];

export interface BenchBaseline {
  readonly name: string;
  readonly sample: Sampler;
  /** The ratio the issue asks for against this baseline (shown, never asserted). */
  readonly goal?: number;
}

export interface BenchCase {
  readonly name: string;
  readonly unit: string;
  readonly better: Better;
  readonly sample: Sampler;
  readonly baselines: readonly BenchBaseline[];
}

/** What a suite's setup hands the runner: its cases, and how to release what it opened. */
export interface PreparedSuite {
  readonly cases: readonly BenchCase[];
  close(): Promise<void>;
}

export interface BenchContext {
  /** Rough time one sample should take; suites size their loops with it. */
  readonly sampleMs: number;
  readonly progress: (line: string) => void;
  /** The sandbox's servers, brought up (or reused) on first call. */
  readonly sandbox: () => Promise<SandboxInfo>;
}

export interface BenchSuite {
  readonly name: string;
  readonly description: string;
  setup(context: BenchContext): Promise<PreparedSuite>;
}

/** One (case, baseline) pair: the line `--json` prints. */
export interface BenchResult {
  readonly suite: string;
  readonly case: string;
  readonly unit: string;
  readonly value: number;
  readonly baseline: string;
  readonly baselineValue: number;
  /** The project's performance relative to the baseline: above 1 is better, whatever the unit. */
  readonly ratio: number;
}

export interface ResultDetail extends BenchResult {
  readonly goal: number | undefined;
  readonly samples: readonly number[];
  readonly baselineSamples: readonly number[];
}

export interface RunOptions {
  readonly rounds: number;
  /** Unrecorded rounds before the measured ones (JIT, pools, caches). */
  readonly warmupRounds: number;
  readonly onSample?: (event: SampleEvent) => void;
  /** Only cases whose name is listed; all when absent. */
  readonly cases?: readonly string[];
}

export interface SampleEvent {
  readonly suite: string;
  readonly case: string;
  readonly side: string;
  readonly round: number;
  readonly rounds: number;
  readonly warmup: boolean;
  readonly value: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** Above 1 means the project did better than the baseline, whichever way the unit points. */
export function ratioOf(value: number, baselineValue: number, better: Better): number {
  switch (better) {
    case Better.Higher:
      return value / baselineValue;
    case Better.Lower:
      return baselineValue / value;
  }
}

/**
 * Runs every case of a prepared suite. Within a round the sides run one after the
 * other, and the order flips every round (A B C, C B A, …) so neither side always
 * runs on the heels of the same neighbour.
 */
export async function runCases(
  suite: string,
  prepared: PreparedSuite,
  options: RunOptions,
): Promise<ResultDetail[]> {
  const results: ResultDetail[] = [];
  const selected = prepared.cases.filter(
    (c) => options.cases === undefined || options.cases.includes(c.name),
  );
  for (const benchCase of selected) {
    const sides = [
      { name: 'project', sample: benchCase.sample },
      ...benchCase.baselines.map((b) => ({ name: b.name, sample: b.sample })),
    ];
    const samples = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    const total = options.warmupRounds + options.rounds;
    for (let round = 0; round < total; round++) {
      const warmup = round < options.warmupRounds;
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const value = await side.sample();
        if (!Number.isFinite(value) || value <= 0) {
          throw new Error(
            `bench ${suite}/${benchCase.name}: side "${side.name}" measured ${value}, expected a positive number`,
          );
        }
        if (!warmup) samples.get(side.name)?.push(value);
        options.onSample?.({
          suite,
          case: benchCase.name,
          side: side.name,
          round: warmup ? round + 1 : round - options.warmupRounds + 1,
          rounds: warmup ? options.warmupRounds : options.rounds,
          warmup,
          value,
        });
      }
    }
    const projectSamples = samples.get('project') ?? [];
    const value = median(projectSamples);
    for (const baseline of benchCase.baselines) {
      const baselineSamples = samples.get(baseline.name) ?? [];
      const baselineValue = median(baselineSamples);
      results.push({
        suite,
        case: benchCase.name,
        unit: benchCase.unit,
        value,
        baseline: baseline.name,
        baselineValue,
        ratio: ratioOf(value, baselineValue, benchCase.better),
        goal: baseline.goal,
        samples: projectSamples,
        baselineSamples,
      });
    }
  }
  return results;
}

/** The exact line `npm run bench -- --json` prints for one result. */
export function toJsonLine(result: BenchResult): string {
  const line: BenchResult = {
    suite: result.suite,
    case: result.case,
    unit: result.unit,
    value: round(result.value),
    baseline: result.baseline,
    baselineValue: round(result.baselineValue),
    ratio: Math.round(result.ratio * 1000) / 1000,
  };
  return JSON.stringify(line);
}

function round(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
}

export type GoalStatus = 'met' | 'missed' | 'no goal';

/** Whether a result reached the ratio its baseline asks for. */
export function goalStatus(result: Pick<ResultDetail, 'ratio' | 'goal'>): GoalStatus {
  if (result.goal === undefined) return 'no goal';
  return result.ratio >= result.goal ? 'met' : 'missed';
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}

/** A plain-text table of results, for people. */
export function formatTable(results: readonly ResultDetail[]): string {
  const header = [
    'suite',
    'case',
    'unit',
    'project',
    'baseline',
    'baseline value',
    'ratio',
    'goal',
  ];
  const rows = results.map((r) => [
    r.suite,
    r.case,
    r.unit,
    formatValue(r.value),
    r.baseline,
    formatValue(r.baselineValue),
    `${r.ratio.toFixed(2)}×`,
    r.goal === undefined ? '' : `${goalStatus(r)} (≥ ${r.goal}×)`,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        i >= 3 && i !== 4 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
