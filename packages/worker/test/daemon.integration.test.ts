import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The built daemon, run as operators run it: `npm test` builds (tsc -b) before the tests.
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const blobRoot = mkdtempSync(join(tmpdir(), 'swb-worker-'));

afterAll(() => {
  rmSync(blobRoot, { recursive: true, force: true });
});

/** Only PATH from the test's own environment, so a developer's SWB_ variables cannot leak in. */
function spawnWorker(env: Record<string, string>) {
  if (!existsSync(main)) throw new Error(`${main} is missing: build first with npx tsc -b`);
  return spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exitOf(child: ReturnType<typeof spawnWorker>): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
}

describe('worker process', () => {
  it('exits with a non-zero code and names the bad variable when the config is invalid', async () => {
    const child = spawnWorker({ SWB_OPS_PORT: 'abc' });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await exitOf(child)).toBe(78);
    expect(stderr).toContain('SWB_OPS_PORT: expected integer, got "abc"');
    expect(stderr).toContain('SWB_REDIS_URL is required');
  });

  it('serves /healthz, then drains and exits 0 on SIGTERM', async () => {
    const child = spawnWorker({
      SWB_OPS_PORT: '0',
      SWB_SHUTDOWN_TIMEOUT_MS: '5000',
      // Nothing listens on port 1: readiness says 503, which this test does not need.
      SWB_REDIS_URL: 'redis://127.0.0.1:1',
      SWB_SQL_PRIMARY: 'mysql://root:hunter2@127.0.0.1:1/switchboard',
      SWB_BLOB_ROOT: blobRoot,
      SWB_SPOOL_DIR: join(blobRoot, 'spool'),
    });
    const exited = exitOf(child);
    const lines: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        const record = JSON.parse(line) as { msg?: string; url?: string };
        if (record.msg === 'ops endpoint listening' && record.url !== undefined)
          resolve(record.url);
      });
      void exited.then((code) => {
        reject(new Error(`worker exited with ${String(code)} before listening`));
      });
    });

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const began = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(lines.join('\n')).not.toContain('hunter2');
  });
});
