/**
 * The report a bench run leaves behind: Markdown for people, an SVG chart of the ratios, and
 * the raw results as JSON for later tooling. No I/O here: the CLI collects, writes and reads.
 */
import { formatValue, goalStatus, type GoalStatus, type ResultDetail } from './harness.js';
import type { MachineInfo } from './machine.js';

export interface SuiteFailure {
  readonly suite: string;
  readonly message: string;
}

export interface RunInfo {
  /** ISO timestamps. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly rounds: number;
  readonly warmupRounds: number;
  readonly sampleMs: number;
  /** The suites chosen, in the order they ran. */
  readonly suites: readonly string[];
  /** The `--case` filter; undefined when every case ran. */
  readonly cases: readonly string[] | undefined;
  readonly failures: readonly SuiteFailure[];
}

export interface BenchReport {
  readonly run: RunInfo;
  readonly machine: MachineInfo;
  readonly results: readonly ResultDetail[];
}

/** What the README's table needs of a result. */
export type RatioRow = Pick<ResultDetail, 'suite' | 'case' | 'baseline' | 'ratio' | 'goal'>;

/** Every file of a report, by name. */
export type ReportFiles = Readonly<Record<'report.md' | 'report.svg' | 'results.json', string>>;

export function renderReport(report: BenchReport): ReportFiles {
  return {
    'report.md': renderMarkdown(report),
    'report.svg': renderSvg(report.results),
    'results.json': `${JSON.stringify(report, null, 2)}\n`,
  };
}

export function renderMarkdown(report: BenchReport): string {
  const { run, machine, results } = report;
  const blocks = [
    `# Bench report, ${run.startedAt}`,
    summary(run, results),
    ['## Run', runList(run)].join('\n\n'),
    ['## Machine', machineList(machine)].join('\n\n'),
    ...(results.length > 0 ? ['![ratios](report.svg)'] : []),
    ...run.suites.flatMap((suite) => suiteBlock(suite, run.failures, results)),
  ];
  return `${blocks.join('\n\n')}\n`;
}

function summary(run: RunInfo, results: readonly RatioRow[]): string {
  const failed = run.failures.map((f) => f.suite);
  return [
    goalsLine(results),
    ...(failed.length > 0 ? [`Failed suites: ${failed.map(text).join(', ')}.`] : []),
  ].join(' ');
}

function goalsLine(results: readonly RatioRow[]): string {
  const statuses = results.map(goalStatus).filter((s) => s !== 'no goal');
  if (statuses.length === 0) return 'No goals set.';
  return `Goals met: ${statuses.filter((s) => s === 'met').length} of ${statuses.length}.`;
}

function runList(run: RunInfo): string {
  const elapsed = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  return [
    `- Started ${run.startedAt}, finished ${run.finishedAt} (${formatDuration(elapsed)})`,
    `- Rounds: ${run.rounds} measured (+${run.warmupRounds} warm-up) of ~${run.sampleMs} ms per side; medians`,
    `- Suites: ${run.suites.map(text).join(', ')}`,
    `- Cases: ${run.cases === undefined ? 'all' : run.cases.map(text).join(', ')}`,
  ].join('\n');
}

function machineList(machine: MachineInfo): string {
  const commit =
    machine.commit === undefined
      ? 'unknown (no git checkout)'
      : `${machine.commit.hash}${machine.commit.dirty ? ' with uncommitted changes' : ''}`;
  return [
    `- OS: ${text(machine.os)}`,
    `- CPU: ${text(machine.cpuModel)}, ${machine.cpuCount} usable`,
    `- Memory: ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    `- Node: ${machine.node}`,
    `- Commit: ${commit}`,
  ].join('\n');
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function suiteBlock(
  suite: string,
  failures: readonly SuiteFailure[],
  results: readonly ResultDetail[],
): string[] {
  const failure = failures.find((f) => f.suite === suite);
  const rows = results.filter((r) => r.suite === suite);
  const heading = `## ${text(suite)}`;
  if (failure !== undefined) return [heading, `Failed: ${text(failure.message)}`];
  if (rows.length === 0) return [];
  return [heading, suiteTable(rows), goalsLine(rows)];
}

function suiteTable(rows: readonly ResultDetail[]): string {
  return markdownTable(
    [
      { title: 'case' },
      { title: 'baseline' },
      { title: 'project', right: true },
      { title: 'baseline value', right: true },
      { title: 'unit' },
      { title: 'ratio', right: true },
      { title: 'goal', right: true },
      { title: 'result' },
    ],
    rows.map((r) => [
      code(r.case),
      code(r.baseline),
      formatValue(r.value),
      formatValue(r.baselineValue),
      text(r.unit),
      formatRatio(r.ratio),
      formatGoal(r.goal),
      r.goal === undefined ? '' : goalStatus(r),
    ]),
  );
}

/** A compact table of ratios, in the README's style, for pasting into it. */
export function readmeTable(results: readonly RatioRow[]): string {
  return markdownTable(
    [
      { title: 'suite' },
      { title: 'case' },
      { title: 'baseline' },
      { title: 'ratio', right: true },
      { title: 'goal', right: true },
      { title: 'met' },
    ],
    results.map((r) => [
      text(r.suite),
      code(r.case),
      code(r.baseline),
      formatRatio(r.ratio),
      formatGoal(r.goal),
      { met: 'yes', missed: 'no', 'no goal': '' }[goalStatus(r)],
    ]),
  );
}

/** The rows of a report's `results.json`, checked enough to render them. */
export function ratiosFromJson(json: string): RatioRow[] {
  const parsed: unknown = JSON.parse(json);
  const results = isRecord(parsed) ? parsed.results : undefined;
  if (!Array.isArray(results)) throw new Error('no "results" array');
  return results.map((entry: unknown, index) => {
    if (isRecord(entry)) {
      const { suite, case: name, baseline, ratio, goal } = entry;
      if (
        typeof suite === 'string' &&
        typeof name === 'string' &&
        typeof baseline === 'string' &&
        typeof ratio === 'number' &&
        (goal === undefined || typeof goal === 'number')
      ) {
        return { suite, case: name, baseline, ratio, goal };
      }
    }
    throw new Error(`results[${index}] lacks a suite, case, baseline or ratio`);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

function formatGoal(goal: number | undefined): string {
  return goal === undefined ? '' : `≥ ${goal}×`;
}

interface Column {
  readonly title: string;
  readonly right?: boolean;
}

/** A table padded the way Prettier pads one, so a pasted table passes `prettier --check`. */
function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) =>
    Math.max(3, c.title.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return columns[i]?.right === true ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(' | ')} |`;
  const rule = widths.map((w, i) =>
    columns[i]?.right === true ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w),
  );
  return [line(columns.map((c) => c.title)), line(rule), ...rows.map(line)].join('\n');
}

/** Free text in Markdown: one line, with the characters that would format or break a table escaped. */
function text(value: string): string {
  return value.replace(/\s*\n\s*/g, ' ').replace(/[\\`*_[\]<>|]/g, '\\$&');
}

/** A name as inline code; a pipe still needs escaping inside a table. */
function code(value: string): string {
  return `\`${value.replaceAll('|', '\\|')}\``;
}

const chart = {
  rowHeight: 24,
  barHeight: 14,
  /** Width of one character of the 12 px label font, roughly; labels are sized by it. */
  charWidth: 7,
  plotWidth: 480,
  /** Room after the longest bar for its ratio. */
  valueWidth: 56,
  padding: 12,
  top: 28,
  legendHeight: 32,
  /** Wide enough for the legend, however short the labels. */
  minWidth: 680,
} as const;

const colours: Record<GoalStatus, string> = {
  met: '#2e7d32',
  missed: '#c62828',
  'no goal': '#78909c',
};

/**
 * A horizontal bar per (case, baseline) pair, its length the ratio on a linear scale that
 * starts at 0, with a dashed line at 1× (parity with the baseline) and a black tick at the goal.
 */
export function renderSvg(results: readonly ResultDetail[]): string {
  const labels = results.map((r) => `${r.suite} · ${r.case} vs ${r.baseline}`);
  const plotX = chart.padding + Math.max(0, ...labels.map((l) => l.length)) * chart.charWidth;
  const scaleMax = Math.max(1, ...results.map((r) => Math.max(r.ratio, r.goal ?? 0)));
  const x = (ratio: number): number => plotX + (ratio / scaleMax) * chart.plotWidth;
  const plotBottom = chart.top + results.length * chart.rowHeight;
  const width = Math.max(
    chart.minWidth,
    plotX + chart.plotWidth + chart.valueWidth + chart.padding,
  );
  const height = plotBottom + chart.legendHeight;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...results.map((r, i) => barRow(r, labels[i] ?? '', chart.top + i * chart.rowHeight, plotX, x)),
    `<line class="parity" x1="${px(x(1))}" y1="${chart.top - 6}" x2="${px(x(1))}" y2="${plotBottom}" stroke="#424242" stroke-dasharray="4 3"/>`,
    `<text x="${px(x(1))}" y="${chart.top - 10}" text-anchor="middle">1×</text>`,
    legend(plotBottom + chart.legendHeight / 2),
    '</svg>',
    '',
  ].join('\n');
}

function barRow(
  result: ResultDetail,
  label: string,
  y: number,
  plotX: number,
  x: (ratio: number) => number,
): string {
  const status = goalStatus(result);
  const end = x(result.ratio);
  const middle = y + chart.barHeight / 2 + 4;
  const tooltip = `${formatValue(result.value)} vs ${formatValue(result.baselineValue)} ${result.unit}`;
  return [
    `<text x="${plotX - 6}" y="${middle}" text-anchor="end">${xml(label)}</text>`,
    `<rect class="bar ${status === 'no goal' ? 'none' : status}" x="${plotX}" y="${y}" width="${px(end - plotX)}" height="${chart.barHeight}" fill="${colours[status]}"><title>${xml(tooltip)}</title></rect>`,
    ...(result.goal === undefined
      ? []
      : [
          `<line class="goal" x1="${px(x(result.goal))}" y1="${y - 3}" x2="${px(x(result.goal))}" y2="${y + chart.barHeight + 3}" stroke="#000000" stroke-width="2"/>`,
        ]),
    `<text x="${px(end + 4)}" y="${middle}">${formatRatio(result.ratio)}</text>`,
  ].join('\n');
}

function legend(y: number): string {
  const swatches = (['met', 'missed', 'no goal'] as const).map((status, i) => {
    const left = chart.padding + i * 110;
    return [
      `<rect x="${left}" y="${y - 9}" width="10" height="10" fill="${colours[status]}"/>`,
      `<text x="${left + 14}" y="${y}">${status === 'no goal' ? 'no goal' : `goal ${status}`}</text>`,
    ].join('\n');
  });
  const note = chart.padding + 3 * 110;
  return [
    ...swatches,
    `<line x1="${note}" y1="${y - 10}" x2="${note}" y2="${y + 2}" stroke="#000000" stroke-width="2"/>`,
    `<text x="${note + 6}" y="${y}">goal; ratio above 1× is better than the baseline</text>`,
  ].join('\n');
}

/** Coordinates to one decimal: exact enough for a chart, short enough to read. */
function px(value: number): number {
  return Math.round(value * 10) / 10;
}

function xml(value: string): string {
  return value.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}
