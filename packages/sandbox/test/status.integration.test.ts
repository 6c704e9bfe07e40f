import { describe, expect, inject, it } from 'vitest';
import { SERVER_NAMES, status } from '../src/index.js';

const info = inject('sandbox');
const options = { root: info.root, portBase: info.portBase };

describe('status of the sandbox', () => {
  it('lists every server with its address and pid', async () => {
    const rows = await status(options);
    expect(rows.map((r) => r.name)).toEqual([...SERVER_NAMES]);
    for (const row of rows) expect(row.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('reports every server healthy (once any fault another test injected has healed)', async () => {
    // Fault tests in other files stop and restart servers for a few seconds at a time.
    await expect
      .poll(
        async () =>
          (await status(options))
            .filter((r) => r.health !== 'healthy' || r.pid === undefined)
            .map((r) => `${r.name}: ${r.health} ${r.detail}`),
        { timeout: 45_000, interval: 500 },
      )
      .toEqual([]);
  });
});
