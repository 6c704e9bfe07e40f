import { existsSync } from 'node:fs';
import type { Topology } from '@switchboard/runtime';
import { uniqueName } from '@switchboard/sandbox/testing';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  adminToken,
  joinToken,
  registration,
  startController,
  waitFor,
  type TestController,
} from './helpers.js';

// The dashboard is plain JavaScript in an HTML string: only a real browser runs it. Chromium
// comes from Debian (scripts/setup.mjs installs it); playwright-core drives it without
// downloading a browser of its own.
const chromiumPath = '/usr/bin/chromium';
/** Every wait in this file is bounded by this, well above the 1.5 s lease and 250 ms rounds. */
const waitMs = 10_000;

const info = inject('sandbox');
let ctl: TestController;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
/** Uncaught errors in the page's script, from every page: a broken script fails the run. */
const pageErrors: Error[] = [];

const nodes = {
  worker1: uniqueName('w'),
  worker2: uniqueName('w'),
  edge: uniqueName('e'),
  kv: uniqueName('k'),
};
const kvAg = 'ag-dash';
const heartbeats = new Map<string, NodeJS.Timeout>();
const heartbeatErrors: unknown[] = [];

function beat(id: string): void {
  ctl
    .call(`/v1/nodes/${id}/heartbeat`, {
      method: 'PUT',
      token: joinToken,
      body: JSON.stringify({ load: { activeJobs: 1 } }),
    })
    .then(
      (response) => {
        if (response.status !== 200) heartbeatErrors.push(`${id}: HTTP ${response.status}`);
      },
      (error: unknown) => {
        heartbeatErrors.push(error);
      },
    );
}

function stopHeartbeat(id: string): void {
  clearInterval(heartbeats.get(id));
  heartbeats.delete(id);
}

async function openPage(hash: string): Promise<Page> {
  if (browser === undefined) throw new Error('chromium did not start');
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(waitMs);
  page.on('pageerror', (error) => pageErrors.push(error));
  await page.goto(`${ctl.url}/dashboard${hash}`);
  return page;
}

const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: run scripts/setup.mjs (it installs chromium)`);
  }
  ctl = await startController(info, uniqueName('dash'), { SWB_REGISTRY_LEASE_TTL_MS: '1500' });
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
  const registrations = [
    registration(nodes.worker1, ['worker']),
    registration(nodes.worker2, ['worker']),
    registration(nodes.edge, ['sip-edge']),
    registration(nodes.kv, ['kv'], { ag: kvAg, capacity: { memoryMb: 256 } }),
  ];
  for (const body of registrations) {
    const response = await ctl.call('/v1/nodes', { method: 'POST', token: joinToken, body });
    expect(response.status).toBe(200);
  }
  for (const id of Object.values(nodes)) {
    heartbeats.set(
      id,
      setInterval(() => {
        beat(id);
      }, 300),
    );
  }
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
});

afterAll(async () => {
  for (const id of [...heartbeats.keys()]) stopHeartbeat(id);
  for (const context of contexts) await context.close();
  await browser?.close();
  await ctl.close();
});

describe('dashboard', () => {
  it('follows the live stream and shows every registered node up, the SQL replicas and the Redis AGs', async () => {
    const requested: string[] = [];
    const page = await openPage(`#token=${adminToken}`);
    page.on('request', (request) => requested.push(request.url()));

    await expect
      .poll(() => byTestId(page, 'connection').textContent(), { timeout: waitMs })
      .toBe('live');
    // The token left the address bar and never travels in a URL.
    expect(page.url()).toBe(`${ctl.url}/dashboard`);
    for (const url of requested) expect(url).not.toContain(adminToken);

    for (const id of Object.values(nodes)) {
      await page.locator(`[data-testid="node-${id}"][data-status="up"]`).waitFor();
      await expect
        .poll(() =>
          page.locator(`[data-testid="node-${id}"] [data-testid="node-status"]`).textContent(),
        )
        .toBe('up');
    }
    // The Distributed Database node sits under its AG.
    await byTestId(page, `ag-${kvAg}`).locator(`[data-testid="node-${nodes.kv}"]`).waitFor();

    const topology = (await (await ctl.call('/v1/topology')).json()) as Topology;
    await expect
      .poll(async () => Number(await byTestId(page, 'topology-version').textContent()), {
        timeout: waitMs,
      })
      .toBeGreaterThanOrEqual(topology.version);
    expect(topology.sql.replicas.length).toBeGreaterThan(0);
    for (const replica of topology.sql.replicas) {
      await page
        .locator(`[data-testid="sql-replica-${replica.address}"][data-healthy="true"]`)
        .waitFor();
    }
    expect(topology.kv.groups.length).toBeGreaterThan(0);
    for (const group of topology.kv.groups) {
      await byTestId(page, `kv-group-${group.id}`).waitFor();
    }
    expect(await byTestId(page, 'kv-state').textContent()).toBe('cluster ok');
    // The status event (about each second) fills in the replication threads and the leases.
    await page.locator('[data-testid^="sql-replica-"]', { hasText: 'running' }).first().waitFor();
    await byTestId(page, `lease-${nodes.worker1}`).waitFor();
    expect(await byTestId(page, 'leader').textContent()).toContain(ctl.config.nodeId);
  });

  it('shows a proposed plan from /v1/plans', async () => {
    const created = await ctl.call('/v1/plans', {
      method: 'POST',
      body: JSON.stringify({ sql: { replicas: 2 } }),
    });
    expect(created.status).toBe(201);
    const plan = (await created.json()) as { id: string };
    const page = await openPage(`#token=${adminToken}`);
    await byTestId(page, `plan-${plan.id}`).waitFor();
    await page.locator(`[data-testid="plan-current"][data-state="proposed"]`).waitFor();
  });

  it('marks a node down within a few seconds of its heartbeats stopping', async () => {
    const page = await openPage(`#token=${adminToken}`);
    await page.locator(`[data-testid="node-${nodes.worker2}"][data-status="up"]`).waitFor();
    stopHeartbeat(nodes.worker2);
    const started = Date.now();
    await page.locator(`[data-testid="node-${nodes.worker2}"][data-status="down"]`).waitFor();
    // 1.5 s of lease, then one 250 ms leader round, then the stream.
    expect(Date.now() - started).toBeLessThan(waitMs);
    expect(
      await page
        .locator(`[data-testid="node-${nodes.worker2}"] [data-testid="node-status"]`)
        .textContent(),
    ).toBe('down');
    for (const id of [nodes.worker1, nodes.edge, nodes.kv]) {
      expect(await byTestId(page, `node-${id}`).getAttribute('data-status')).toBe('up');
    }
    expect(heartbeatErrors).toEqual([]);
  });

  it('shows a clear error and the token form for a wrong token, and opens with the right one', async () => {
    const page = await openPage('#token=not-the-admin-token');
    const error = byTestId(page, 'auth-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('401');
    expect(await byTestId(page, 'connection').textContent()).toBe('signed out');
    await byTestId(page, 'token-form').waitFor();

    await byTestId(page, 'token-input').fill(adminToken);
    await byTestId(page, 'token-submit').click();
    await expect
      .poll(() => byTestId(page, 'connection').textContent(), { timeout: waitMs })
      .toBe('live');
    expect(await byTestId(page, 'token-form').isHidden()).toBe(true);
    await byTestId(page, `node-${nodes.worker1}`).waitFor();
  });

  it('refuses the join token: it reads the stream but not the operator routes', async () => {
    const page = await openPage(`#token=${joinToken}`);
    const error = byTestId(page, 'auth-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('403');
  });

  it('ran every page without an uncaught script error', () => {
    expect(pageErrors.map((e) => e.message)).toEqual([]);
  });
});
