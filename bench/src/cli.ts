// `npm run bench -- [suite …] [--json] [--rounds N] [--warmup N] [--sample-ms N] [--case NAME …]
//  [--report DIR | --no-report] [--print-table DIR] [--list]`
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { machineInfo } from './machine.js';
import {
  ratiosFromJson,
  readmeTable,
  renderReport,
  type ReportFiles,
  type SuiteFailure,
} from './report.js';
import { suites } from './suites/index.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const usage = `usage: npm run bench -- [suite …] [options]

Runs each suite's cases against their baselines, alternately, in the same run.
Suites: ${suites.map((s) => s.name).join(', ')} (all when none is named).

options:
  --json           one JSON object per line per (case, baseline) pair, nothing else on stdout
  --rounds N       measured rounds per side (default 5)
  --warmup N       unmeasured rounds first (default 1)
  --sample-ms N    rough length of one sample in ms (default 2000)
  --case NAME      only this case (repeatable)
  --report DIR     write the report (report.md, report.svg, results.json) to DIR
                   (default bench-results/<start time>/, copied to bench-results/latest/)
  --no-report      write no report
  --print-table DIR
                   print the ratios of DIR/results.json as a Markdown table for the README, and exit
  --list           list the suites and exit`;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
        report: { type: 'string' },
        'no-report': { type: 'boolean', default: false },
        'print-table': { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return fail(errorMessage(error));
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
if (values['print-table'] !== undefined) {
  const file = join(values['print-table'], 'results.json');
  try {
    console.log(readmeTable(ratiosFromJson(await readFile(file, 'utf8'))));
  } catch (error) {
    console.error(`bench: cannot print a table from ${file}: ${errorMessage(error)}`);
    process.exit(1);
  }
  process.exit(0);
}
if (values.report !== undefined && values['no-report']) fail('--report and --no-report conflict');

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
const sampleLine = (event: SampleEvent): string => {
  const phase = event.warmup ? 'warm-up' : 'round';
  return `${event.case} · ${event.side} · ${phase} ${event.round}/${event.rounds} · ${formatValue(event.value)}`;
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

const startedAt = new Date();
const all: ResultDetail[] = [];
const failures: SuiteFailure[] = [];
for (const [index, suite] of chosen.entries()) {
  // Which suite of how many, on every line, so the whole run's progress shows.
  const label = `[${index + 1}/${chosen.length} ${suite.name}]`;
  const suiteProgress = (line: string): void => {
    progress(`${label} ${line}`);
  };
  suiteProgress('setting up');
  try {
    const prepared = await suite.setup({ ...context, progress: suiteProgress });
    try {
      const results = await runCases(suite.name, prepared, {
        rounds,
        warmupRounds,
        onSample: (event) => {
          suiteProgress(sampleLine(event));
        },
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
    failures.push({ suite: suite.name, message: errorMessage(error) });
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
process.exitCode = failures.length > 0 ? 1 : 0;

if (!values['no-report']) {
  const files = renderReport({
    run: {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      rounds,
      warmupRounds,
      sampleMs,
      suites: chosen.map((s) => s.name),
      cases: values.case,
      failures,
    },
    machine: await machineInfo(repoRoot),
    results: all,
  });
  // A run of its own by default, and the same files again as the latest, for humans to find.
  const resultsRoot = join(repoRoot, 'bench-results');
  const dir = values.report ?? join(resultsRoot, startedAt.toISOString().replaceAll(':', '-'));
  const copies = values.report === undefined ? [join(resultsRoot, 'latest')] : [];
  try {
    for (const target of [dir, ...copies]) await writeFiles(target, files);
    console.error(`bench: report in ${join(dir, 'report.md')}`);
  } catch (error) {
    console.error(`bench: cannot write the report: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}

async function writeFiles(dir: string, files: ReportFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}
