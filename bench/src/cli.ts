// `npm run bench -- [suite …] [--json] [--rounds N] [--warmup N] [--sample-ms N] [--case NAME …] [--list]`
import { parseArgs } from 'node:util';
import { up, type SandboxInfo } from '@switchboard/sandbox';
import {
  formatTable,
  formatValue,
  runCases,
  toJsonLine,
  type BenchContext,
  type ResultDetail,
  type SampleEvent,
} from './harness.js';
import { suites } from './suites/index.js';

const usage = `usage: npm run bench -- [suite …] [options]

Runs each suite's cases against their baselines, alternately, in the same run.
Suites: ${suites.map((s) => s.name).join(', ')} (all when none is named).

options:
  --json           one JSON object per line per (case, baseline) pair, nothing else on stdout
  --rounds N       measured rounds per side (default 5)
  --warmup N       unmeasured rounds first (default 1)
  --sample-ms N    rough length of one sample in ms (default 2000)
  --case NAME      only this case (repeatable)
  --list           list the suites and exit`;

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${usage}`);
  process.exit(2);
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`--${name} takes a whole number, got "${raw}"`);
  return value;
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        warmup: { type: 'string' },
        'sample-ms': { type: 'string' },
        case: { type: 'string', multiple: true },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (values.list) {
  for (const suite of suites) console.log(`${suite.name.padEnd(12)} ${suite.description}`);
  process.exit(0);
}

const unknown = positionals.filter((name) => !suites.some((s) => s.name === name));
if (unknown.length > 0) fail(`unknown suite: ${unknown.join(', ')}`);
const chosen =
  positionals.length === 0 ? suites : suites.filter((s) => positionals.includes(s.name));
const rounds = Math.max(1, positiveInteger('rounds', values.rounds, 5));
const warmupRounds = positiveInteger('warmup', values.warmup, 1);
const sampleMs = Math.max(100, positiveInteger('sample-ms', values['sample-ms'], 2000));

// Progress goes to stderr so that stdout stays a clean table (or clean JSON lines).
const tty = process.stderr.isTTY;
const progress = (line: string): void => {
  if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  else process.stderr.write(`${line}\n`);
};
const endProgress = (): void => {
  if (tty) process.stderr.write('\r\x1b[2K');
};
const onSample = (event: SampleEvent): void => {
  const phase = event.warmup ? 'warm-up' : 'round';
  progress(
    `[${event.suite}] ${event.case} · ${event.side} · ${phase} ${event.round}/${event.rounds} · ${formatValue(event.value)}`,
  );
};

let sandboxInfo: Promise<SandboxInfo> | undefined;
const context: BenchContext = {
  sampleMs,
  progress,
  sandbox: () =>
    (sandboxInfo ??= up({
      ...(process.env.SWB_SANDBOX_DIR === undefined ? {} : { root: process.env.SWB_SANDBOX_DIR }),
      ...(process.env.SWB_SANDBOX_PORT_BASE === undefined
        ? {}
        : { portBase: Number(process.env.SWB_SANDBOX_PORT_BASE) }),
      onProgress: (line) => {
        progress(`[sandbox] ${line}`);
      },
    })),
};

const all: ResultDetail[] = [];
let failed = false;
for (const suite of chosen) {
  progress(`[${suite.name}] setting up`);
  try {
    const prepared = await suite.setup(context);
    try {
      const results = await runCases(suite.name, prepared, {
        rounds,
        warmupRounds,
        onSample,
        ...(values.case === undefined ? {} : { cases: values.case }),
      });
      all.push(...results);
      endProgress();
      if (values.json) for (const result of results) console.log(toJsonLine(result));
    } finally {
      await prepared.close();
    }
  } catch (error) {
    endProgress();
    failed = true;
    console.error(`bench: suite ${suite.name} failed:`, error);
  }
}
endProgress();
if (!values.json && all.length > 0) {
  console.log(formatTable(all));
  console.log(
    `\n${rounds} rounds (+${warmupRounds} warm-up) of ~${sampleMs} ms per side; medians.`,
  );
}
process.exitCode = failed ? 1 : 0;
