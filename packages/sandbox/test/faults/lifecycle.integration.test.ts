import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_NAMES, SandboxErrorCode, down, ensureUp, reset, status } from '../../src/index.js';
import { isAlive, probePort } from '../../src/process.js';

// A second sandbox of its own (own folder, own port range), so this test can take it from nothing
// to nothing without touching the servers the other tests share.
const PORT_BASE = 19400;

describe('sandbox lifecycle', () => {
  it('starts every server from nothing, reuses them on a second up, and leaves no process after down', async () => {
    const root = await mkdtemp(join(tmpdir(), 'swb-sandbox-'));
    const options = { root, portBase: PORT_BASE };
    try {
      const first = await ensureUp(options);
      expect(first.started).toEqual([...SERVER_NAMES]);
      expect(first.elapsedMs).toBeLessThan(60_000);

      const second = await ensureUp(options);
      expect(second.started).toEqual([]);

      const rows = await status(options);
      expect(rows.filter((r) => r.health !== 'healthy')).toEqual([]);
      const pids = rows.map((r) => r.pid ?? -1);
      expect(pids.every((pid) => pid > 0)).toBe(true);

      const { stopped, killed } = await down(options);
      expect(stopped).toEqual([...SERVER_NAMES]);
      expect(killed).toEqual([]);
      for (const pid of pids) expect(await isAlive(pid)).toBe(false);
      for (const row of rows)
        expect(await probePort(Number(row.address.split(':')[1]))).toBe(false);
      expect((await status(options)).every((r) => r.health === 'stopped')).toBe(true);
    } finally {
      await reset(options);
    }
    expect(existsSync(root)).toBe(false);
  }, 120_000);

  it('refuses to reset a folder it did not make', async () => {
    const root = await mkdtemp(join(tmpdir(), 'swb-not-sandbox-'));
    try {
      await writeFile(join(root, 'precious.txt'), 'keep me');
      await expect(reset({ root, portBase: PORT_BASE })).rejects.toMatchObject({
        code: SandboxErrorCode.notASandbox,
      });
      expect(existsSync(join(root, 'precious.txt'))).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
