import type { ReadableStreamReadResult } from 'node:stream/web';
import { uniqueName } from '@switchboard/sandbox/testing';
import type { HeartbeatReply, NodeView, Topology } from '@switchboard/runtime';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  adminToken,
  joinToken,
  registration,
  startController,
  waitFor,
  type TestController,
} from './helpers.js';

const info = inject('sandbox');
let ctl: TestController;

beforeAll(async () => {
  ctl = await startController(info, uniqueName('ctl'), { SWB_REGISTRY_LEASE_TTL_MS: '1500' });
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
});

afterAll(async () => {
  await ctl.close();
});

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

describe('authentication', () => {
  it('answers 401 without a token and names the header to send', async () => {
    const response = await ctl.call('/v1/nodes', { token: null });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await json(response)).toMatchObject({ code: 'SWB_CTL_UNAUTHORIZED' });
  });

  it('answers 401 for a wrong token and 403 for the join token on an operator route', async () => {
    expect((await ctl.call('/v1/nodes', { token: 'not-the-token' })).status).toBe(401);
    const forbidden = await ctl.call('/v1/nodes', { token: joinToken });
    expect(forbidden.status).toBe(403);
    expect(await json(forbidden)).toMatchObject({ code: 'SWB_CTL_FORBIDDEN' });
    const id = uniqueName('n');
    const drain = await ctl.call(`/v1/nodes/${id}/drain`, { method: 'POST', token: joinToken });
    expect(drain.status).toBe(403);
  });

  it('never writes either token to its log', async () => {
    await ctl.call('/v1/nodes', { token: 'wrong-token-value' });
    await ctl.call('/v1/nodes');
    expect(ctl.logs.text.length).toBeGreaterThan(0);
    expect(ctl.logs.text).not.toContain(adminToken);
    expect(ctl.logs.text).not.toContain(joinToken);
  });
});

describe('registry', () => {
  it('registers a node with the join token and shows it up', async () => {
    const id = uniqueName('n');
    const response = await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: registration(id, ['kv'], { ag: 'ag-1', capacity: { memoryMb: 512 } }),
    });
    expect(response.status).toBe(200);
    const view = await json<NodeView>(response);
    expect(view).toMatchObject({ id, roles: ['kv'], ag: 'ag-1', status: 'up', drained: false });

    const listed = await json<{ nodes: (NodeView & { lastSeen?: string })[] }>(
      await ctl.call('/v1/nodes?role=kv'),
    );
    const mine = listed.nodes.find((n) => n.id === id);
    expect(mine?.status).toBe('up');
    expect(mine?.lastSeen).toBeDefined();
  });

  it('renews the lease on heartbeat, and marks the node down once heartbeats stop', async () => {
    const id = uniqueName('n');
    await ctl.call('/v1/nodes', { method: 'POST', token: joinToken, body: registration(id) });
    const beat = await ctl.call(`/v1/nodes/${id}/heartbeat`, {
      method: 'PUT',
      token: joinToken,
      body: JSON.stringify({ load: { activeJobs: 3 } }),
    });
    expect(beat.status).toBe(200);
    const reply = await json<HeartbeatReply>(beat);
    expect(reply).toMatchObject({ drained: false, leaseTtlMs: 1500 });
    const detail = await json<{ load?: { activeJobs?: number } }>(
      await ctl.call(`/v1/nodes/${id}`),
    );
    expect(detail.load?.activeJobs).toBe(3);

    // No more heartbeats: the lease (1.5 s) runs out and the leader's next topology says down.
    const down = await waitFor(
      'the node to show down in the topology',
      () => ctl.daemon.feed.current?.nodes.find((n) => n.id === id && n.status === 'down'),
      8000,
    );
    expect(down.status).toBe('down');
  });

  it('answers 404 to the heartbeat of a node it does not know, so the node registers again', async () => {
    const response = await ctl.call(`/v1/nodes/${uniqueName('n')}/heartbeat`, {
      method: 'PUT',
      token: joinToken,
      body: '{}',
    });
    expect(response.status).toBe(404);
    expect(await json(response)).toMatchObject({ code: 'SWB_CTL_NOT_FOUND' });
  });

  it('drains a node, tells it in the heartbeat reply, and brings it back', async () => {
    const id = uniqueName('n');
    await ctl.call('/v1/nodes', { method: 'POST', token: joinToken, body: registration(id) });
    const drained = await ctl.call(`/v1/nodes/${id}/drain`, { method: 'POST' });
    expect(await json(drained)).toMatchObject({ id, drained: true, status: 'draining' });
    const beat = await json<HeartbeatReply>(
      await ctl.call(`/v1/nodes/${id}/heartbeat`, { method: 'PUT', token: joinToken, body: '{}' }),
    );
    expect(beat.drained).toBe(true);
    await ctl.call(`/v1/nodes/${id}/resume`, { method: 'POST' });
    const after = await json<HeartbeatReply>(
      await ctl.call(`/v1/nodes/${id}/heartbeat`, { method: 'PUT', token: joinToken, body: '{}' }),
    );
    expect(after.drained).toBe(false);
  });

  it('ends a lease on a graceful leave and forgets a node on request', async () => {
    const id = uniqueName('n');
    await ctl.call('/v1/nodes', { method: 'POST', token: joinToken, body: registration(id) });
    const leave = await ctl.call(`/v1/nodes/${id}/lease`, { method: 'DELETE', token: joinToken });
    expect(leave.status).toBe(204);
    expect(await json(await ctl.call(`/v1/nodes/${id}`))).toMatchObject({ status: 'down' });
    expect((await ctl.call(`/v1/nodes/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await ctl.call(`/v1/nodes/${id}`)).status).toBe(404);
    expect((await ctl.call(`/v1/nodes/${id}`, { method: 'DELETE' })).status).toBe(404);
  });
});

describe('bad input', () => {
  it('answers 400 naming the field for a body that breaks the schema', async () => {
    const response = await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: JSON.stringify({ id: 'n-1', roles: ['toaster'], address: 'x', version: '1' }),
    });
    expect(response.status).toBe(400);
    const body = await json<{ code: string; message: string }>(response);
    expect(body.code).toBe('SWB_CTL_INVALID_REQUEST');
    expect(body.message).toContain('roles');
  });

  it('refuses unknown fields instead of dropping them', async () => {
    const response = await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: JSON.stringify({ id: 'n-2', roles: ['worker'], address: 'x', version: '1', extra: 1 }),
    });
    expect(response.status).toBe(400);
    expect((await json<{ message: string }>(response)).message).toContain('additional');
  });

  it('answers 400 for malformed JSON and for an id with characters it does not allow', async () => {
    const broken = await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: '{"id":',
    });
    expect(broken.status).toBe(400);
    const id = await ctl.call('/v1/nodes/%2e%2e%2fetc/drain', { method: 'POST' });
    expect(id.status).toBe(400);
    expect((await json<{ message: string }>(id)).message).toContain('id');
  });

  it('answers 404 with a code for a route that does not exist', async () => {
    const response = await ctl.call('/v1/nope');
    expect(response.status).toBe(404);
    expect(await json(response)).toMatchObject({ code: 'SWB_CTL_NOT_FOUND' });
  });
});

describe('topology', () => {
  it('is versioned, lists the SQL servers, the AGs and the broker, and long-polls for a newer version', async () => {
    const first = await json<Topology>(await ctl.call('/v1/topology', { token: joinToken }));
    expect(first.version).toBeGreaterThan(0);
    expect(first.sql.primary?.healthy).toBe(true);
    expect(first.sql.replicas).toHaveLength(2);
    expect(first.kv.state).toBe('ok');
    expect(first.kv.groups.length).toBeGreaterThanOrEqual(3);
    expect(first.bus.endpoints[0]?.reachable).toBe(true);
    expect(first.leader?.nodeId).toBe(ctl.config.nodeId);

    const nothing = await ctl.call(`/v1/topology?since=${first.version + 1000}&waitMs=200`, {
      token: joinToken,
    });
    expect(nothing.status).toBe(204);

    const waiting = ctl.call(`/v1/topology?since=${first.version}&waitMs=10000`, {
      token: joinToken,
    });
    const id = uniqueName('n');
    await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: registration(id, ['pbx']),
    });
    const next = await json<Topology>(await waiting);
    expect(next.version).toBeGreaterThan(first.version);
  });

  it('streams each new version as a server-sent event', async () => {
    const abort = new AbortController();
    const response = await ctl.call('/v1/topology/stream', {
      token: joinToken,
      signal: abort.signal,
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const match = pattern.exec(text);
        if (match !== null) return match;
        const { value, done } = (await reader.read()) as ReadableStreamReadResult<Uint8Array>;
        if (done) throw new Error('stream ended');
        text += decoder.decode(value, { stream: true });
      }
    };
    const firstVersion = Number((await readUntil(/event: topology\nid: (\d+)/))[1]);
    const id = uniqueName('n');
    await ctl.call('/v1/nodes', {
      method: 'POST',
      token: joinToken,
      body: registration(id, ['pbx']),
    });
    const pattern = new RegExp(`event: topology\\nid: (\\d+)\\ndata: .*"${id}"`);
    const next = Number((await readUntil(pattern))[1]);
    expect(next).toBeGreaterThan(firstVersion);
    await readUntil(/event: status\n/);
    abort.abort();
  });

  it('shows the leader’s probes in the status: replica lag and replication threads', async () => {
    const body = await json<{
      controller: { leader: boolean };
      status: { probes: { sql: { replicas: { ioRunning?: boolean; sqlRunning?: boolean }[] } } };
    }>(await ctl.call('/v1/status'));
    expect(body.controller.leader).toBe(true);
    expect(body.status.probes.sql.replicas).toHaveLength(2);
    for (const replica of body.status.probes.sql.replicas) {
      expect(replica.ioRunning).toBe(true);
      expect(replica.sqlRunning).toBe(true);
    }
  });
});

describe('documents', () => {
  it('serves an OpenAPI document listing every route, and the dashboard page', async () => {
    const doc = await json<{ paths: Record<string, unknown> }>(
      await ctl.call('/openapi.json', { token: null }),
    );
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/nodes',
        '/v1/nodes/{id}/heartbeat',
        '/v1/topology',
        '/v1/plans',
      ]),
    );
    const docs = await ctl.call('/docs/', { token: null });
    expect(docs.status).toBe(200);
    const page = await ctl.call('/dashboard', { token: null });
    expect(page.headers.get('content-type')).toContain('text/html');
  });
});

describe('SIP accounts', () => {
  it('creates, lists, disables and deletes an account, never echoing the password', async () => {
    const domain = `${uniqueName('d')}.example`;
    const password = 'a-secret-password-1';
    const created = await ctl.call('/v1/sip/accounts', {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', domain, password }),
    });
    expect(created.status).toBe(201);
    const again = await ctl.call('/v1/sip/accounts', {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', domain, password: 'another-password-2' }),
    });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual({ created: false });

    const listed = await ctl.call(`/v1/sip/accounts?domain=${domain}`);
    const text = await listed.text();
    expect(JSON.parse(text)).toMatchObject({
      accounts: [{ username: 'alice', domain, enabled: true }],
    });
    expect(text).not.toContain(password);
    expect(text).not.toMatch(/ha1/i);

    const disable = await ctl.call(`/v1/sip/accounts/${domain}/alice/disable`, { method: 'POST' });
    expect(disable.status).toBe(204);
    const after = await json<{ accounts: { enabled: boolean }[] }>(
      await ctl.call(`/v1/sip/accounts?domain=${domain}`),
    );
    expect(after.accounts[0]?.enabled).toBe(false);
    expect((await ctl.call(`/v1/sip/accounts/${domain}/alice`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await ctl.call(`/v1/sip/accounts/${domain}/alice`, { method: 'DELETE' })).status).toBe(
      404,
    );
    expect(
      (await ctl.call(`/v1/sip/accounts/${domain}/bob/enable`, { method: 'POST' })).status,
    ).toBe(404);
    expect(ctl.logs.text).not.toContain(password);
  });

  it('answers 400 naming the field for a short password or a bad user name, and 403 to the join token', async () => {
    const short = await ctl.call('/v1/sip/accounts', {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', domain: 'example.com', password: 'short' }),
    });
    expect(short.status).toBe(400);
    expect((await json<{ message: string }>(short)).message).toContain('password');
    const bad = await ctl.call('/v1/sip/accounts', {
      method: 'POST',
      body: JSON.stringify({
        username: 'al ice@',
        domain: 'example.com',
        password: 'long-enough-1',
      }),
    });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ code: 'SWB_CTL_INVALID_REQUEST' });
    const node = await ctl.call('/v1/sip/accounts', { token: joinToken });
    expect(node.status).toBe(403);
  });
});
