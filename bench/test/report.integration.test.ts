// The built CLI, run as `npm run bench` runs it, on the one suite that needs no sandbox server:
// `runtime`, one short round per side, a few seconds. Build first with `npx tsc -b bench`.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);
let dir: string;
let stderr: string;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first with npx tsc -b bench`);
  dir = await mkdtemp(join(tmpdir(), 'bench-report-'));
  const quick = ['--rounds', '1', '--warmup', '0', '--sample-ms', '100'];
  ({ stderr } = await run(process.execPath, [BIN, 'runtime', ...quick, '--report', dir]));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run bench -- runtime --report DIR', () => {
  it('writes the Markdown report, the chart and the raw results, and says where', async () => {
    const markdown = await readFile(join(dir, 'report.md'), 'utf8');
    for (const name of ['log-info', 'healthz']) expect(markdown).toContain(`\`${name}\``);
    expect(await readFile(join(dir, 'report.svg'), 'utf8')).toMatch(/^<svg [^]*<\/svg>\n$/);
    const json = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as {
      results: unknown[];
    };
    expect(json.results).toHaveLength(2);
    expect(stderr).toContain(`bench: report in ${join(dir, 'report.md')}`);
  });

  it('shows the whole run’s progress on each line', () => {
    expect(stderr).toMatch(/\[1\/1 runtime\] log-info · project · round 1\/1/);
  });

  it('prints the README table from the report', async () => {
    const { stdout } = await run(process.execPath, [BIN, '--print-table', dir]);
    expect(stdout).toMatch(/^\| suite +\| case/);
    expect(stdout).toMatch(/\| runtime \| `log-info` \| `pino` +\| +\d+\.\d\d× \|/);
    expect(stdout).toContain('`healthz`');
  });
});
