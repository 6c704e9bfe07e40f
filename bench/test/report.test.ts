import { validate } from 'fast-xml-parser';
import { format } from 'prettier';
import { describe, expect, it } from 'vitest';
import type { ResultDetail } from '../src/harness.js';
import { machineInfo, type MachineInfo } from '../src/machine.js';
import {
  ratiosFromJson,
  readmeTable,
  renderMarkdown,
  renderReport,
  renderSvg,
  type BenchReport,
} from '../src/report.js';

function result(
  suite: string,
  name: string,
  baseline: string,
  ratio: number,
  goal?: number,
): ResultDetail {
  return {
    suite,
    case: name,
    unit: 'ops/s',
    value: ratio * 1000,
    baseline,
    baselineValue: 1000,
    ratio,
    goal,
    samples: [ratio * 1000],
    baselineSamples: [1000],
  };
}

const machine: MachineInfo = {
  os: 'Linux 6.1.0 x64',
  cpuModel: 'AMD EPYC',
  cpuCount: 2,
  memoryBytes: 8 * 2 ** 30,
  node: 'v20.19.0',
  commit: { hash: 'abc1234', dirty: true },
};

const results = [
  result('kv', 'get', 'raw-ioredis', 0.95, 0.9),
  result('kv', 'set', 'raw-ioredis', 0.6, 0.9),
  result('kv', 'a<b&c>', 'peer', 2.5),
  result('sql', 'select', 'mysql2', 1.2, 1.5),
];

const report: BenchReport = {
  run: {
    startedAt: '2026-01-01T10:00:00.000Z',
    finishedAt: '2026-01-01T10:04:12.000Z',
    rounds: 5,
    warmupRounds: 1,
    sampleMs: 2000,
    suites: ['kv', 'sql', 'sip'],
    cases: undefined,
    failures: [{ suite: 'sip', message: 'drachtio-server not found on PATH' }],
  },
  machine,
  results,
};

/** The table row of the case named `name`, split into trimmed cells. */
function row(markdown: string, name: string): string[] {
  const line = markdown.split('\n').find((l) => l.startsWith(`| \`${name}\``));
  if (line === undefined) throw new Error(`no row for ${name} in:\n${markdown}`);
  return line
    .split('|')
    .slice(1, -1)
    .map((cell) => cell.trim());
}

/** Every element of the SVG with the given class, as its attributes. */
function elements(svg: string, className: string): Record<string, string>[] {
  const tags = svg.match(new RegExp(`<\\w+ class="${className}[^"]*"[^>]*>`, 'g')) ?? [];
  return tags.map((tag) =>
    Object.fromEntries(
      [...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? ''] as const),
    ),
  );
}

describe('the Markdown report', () => {
  const markdown = renderMarkdown(report);

  it('has a row per (case, baseline) pair with its ratio, goal and whether the goal was met', () => {
    expect(row(markdown, 'get')).toEqual([
      '`get`',
      '`raw-ioredis`',
      '950',
      '1,000',
      'ops/s',
      '0.95×',
      '≥ 0.9×',
      'met',
    ]);
    expect(row(markdown, 'set').slice(5)).toEqual(['0.60×', '≥ 0.9×', 'missed']);
    expect(row(markdown, 'a<b&c>').slice(5)).toEqual(['2.50×', '', '']);
    expect(row(markdown, 'select').slice(5)).toEqual(['1.20×', '≥ 1.5×', 'missed']);
  });

  it('counts the goals met over the run and per suite', () => {
    expect(markdown).toContain('Goals met: 1 of 3.');
    expect(markdown).toContain('## kv');
    expect(markdown).toContain('Goals met: 1 of 2.');
    expect(markdown).toContain('Goals met: 0 of 1.');
  });

  it('lists a failed suite with its error', () => {
    expect(markdown).toContain('Failed suites: sip.');
    expect(markdown).toContain('## sip\n\nFailed: drachtio-server not found on PATH');
  });

  it('says when and on what it ran, with which options, and embeds the chart', () => {
    expect(markdown).toContain('(4 min 12 s)');
    expect(markdown).toContain('5 measured (+1 warm-up) of ~2000 ms per side');
    expect(markdown).toContain('- CPU: AMD EPYC, 2 usable');
    expect(markdown).toContain('- Memory: 8.0 GiB');
    expect(markdown).toContain('- Commit: abc1234 with uncommitted changes');
    expect(markdown).toContain('![ratios](report.svg)');
  });

  it('keeps a multi-line error on its line and escapes what Markdown would format', () => {
    const failing = renderMarkdown({
      ...report,
      run: { ...report.run, failures: [{ suite: 'sip', message: 'no <b>\n  at a|b' }] },
    });
    expect(failing).toContain('Failed: no \\<b\\> at a\\|b\n');
  });
});

describe('the SVG chart', () => {
  const svg = renderSvg(results);

  it('is well-formed XML, with a case name escaped', () => {
    expect(validate(svg)).toBe(true);
    expect(svg).toContain('kv · a&lt;b&amp;c&gt; vs peer');
    expect(svg).not.toContain('a<b&c>');
  });

  it('draws one bar per pair, its width proportional to its ratio', () => {
    const widths = elements(svg, 'bar').map((bar) => Number(bar.width));
    expect(widths).toHaveLength(results.length);
    const perRatio = (widths[0] ?? 0) / 0.95;
    results.forEach((r, i) => {
      expect(widths[i]).toBeCloseTo(r.ratio * perRatio, 0);
    });
  });

  it('colours each bar by whether its goal was met, missed or absent', () => {
    expect(elements(svg, 'bar').map((bar) => bar.class)).toEqual([
      'bar met',
      'bar missed',
      'bar none',
      'bar missed',
    ]);
  });

  it('marks the goal only on pairs that have one', () => {
    expect(elements(svg, 'goal')).toHaveLength(3);
  });

  it('draws the parity line at 1×', () => {
    const [bar] = elements(svg, 'bar');
    const [parity] = elements(svg, 'parity');
    const start = Number(bar?.x);
    expect(Number(parity?.x1) - start).toBeCloseTo(Number(bar?.width) / 0.95, 0);
  });
});

describe('results.json and the README table', () => {
  it('reads back the ratios and goals a report wrote', () => {
    expect(ratiosFromJson(renderReport(report)['results.json'])).toEqual(
      results.map((r) => ({
        suite: r.suite,
        case: r.case,
        baseline: r.baseline,
        ratio: r.ratio,
        goal: r.goal,
      })),
    );
  });

  it('rejects a file that is not a report', () => {
    expect(() => ratiosFromJson('{"results": [{"suite": "kv"}]}')).toThrow(/results\[0\]/);
    expect(() => ratiosFromJson('[]')).toThrow(/no "results" array/);
  });

  it('prints one compact row per pair, already in Prettier’s format', async () => {
    const table = readmeTable(results);
    expect(table.split('\n')).toHaveLength(2 + results.length);
    expect(table).toContain('| kv    | `get`    | `raw-ioredis` | 0.95× | ≥ 0.9× | yes |');
    expect(table).toContain('| sql   | `select` | `mysql2`      | 1.20× | ≥ 1.5× | no  |');
    expect(await format(table, { parser: 'markdown' })).toBe(`${table}\n`);
  });
});

describe('machineInfo', () => {
  it('names the commit and whether the tree is dirty', async () => {
    const info = await machineInfo('/repo', (_file, args) =>
      Promise.resolve(args[0] === 'rev-parse' ? 'abc1234\n' : ' M bench/src/cli.ts\n'),
    );
    expect(info.commit).toEqual({ hash: 'abc1234', dirty: true });
    expect(info.cpuCount).toBeGreaterThan(0);
    expect(info.node).toBe(process.version);
  });

  it('goes without a commit when git is missing', async () => {
    const missing = Object.assign(new Error('spawn git ENOENT'), { code: 'ENOENT' });
    const info = await machineInfo('/repo', () => Promise.reject(missing));
    expect(info.commit).toBeUndefined();
    expect(renderMarkdown({ ...report, machine: info })).toContain(
      '- Commit: unknown (no git checkout)',
    );
  });
});
