import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { helpText, parseInvocation, type Invocation } from '../src/cli/args.js';
import { ControllerClient } from '../src/cli/client.js';
import { CliError } from '../src/cli/errors.js';
import {
  bytes,
  duration,
  formatNodes,
  formatPlan,
  formatStatus,
  type NodeDetail,
  type Plan,
  type StatusReply,
} from '../src/cli/format.js';
import { runCli, type CliIo } from '../src/cli/run.js';

const TOKEN = 'the-admin-token-value-1234';
const PLAN_ID = '0b5a2a3e-1c7e-4a59-9d5e-3f1f5e0c9a11';
const NOW = Date.parse('2026-01-01T12:00:00.000Z');

class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

interface Call {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

type Route = (call: Call) => Response | Promise<Response>;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

function apiError(status: number, code: string, message: string): Response {
  return json(status, { statusCode: status, code, error: 'Error', message });
}

/** A fake controller: routes keyed by `METHOD /path`, each answering in turn when given a list. */
function fakeFetch(routes: Record<string, Route | Route[]>) {
  const calls: Call[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method: init.method ?? 'GET',
      url,
      headers,
      body: typeof init.body === 'string' ? init.body : undefined,
    };
    calls.push(call);
    const path = new URL(url).pathname;
    const route = routes[`${call.method} ${path}`];
    if (route === undefined) return apiError(404, 'SWB_CTL_NOT_FOUND', `no route ${path}`);
    if (Array.isArray(route)) {
      const next = route.length > 1 ? route.shift() : route[0];
      if (next === undefined) throw new Error('no response left');
      return next(call);
    }
    return route(call);
  };
  return { fetch, calls };
}

function io(
  fetch: CliIo['fetch'],
  extra: Partial<Omit<CliIo, 'stdout' | 'stderr'>> & { tty?: boolean } = {},
): CliIo & { stdout: Capture; stderr: Capture } {
  let clock = NOW;
  const { tty = false, ...rest } = extra;
  return {
    fetch,
    env: { SWB_ADMIN_TOKEN: TOKEN },
    now: () => clock,
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    ...rest,
    stdout: new Capture(tty),
    stderr: new Capture(),
  };
}

function parse(argv: string[], env = {}): Invocation {
  return parseInvocation(argv, env);
}

function usage(argv: string[]): string {
  try {
    parse(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be a usage error`);
}

function node(id: string, extra: Partial<NodeDetail> = {}): NodeDetail {
  return {
    id,
    roles: ['worker'],
    address: '10.0.0.1:9100',
    version: '0.1.0',
    status: 'up',
    drained: false,
    registeredAt: '2026-01-01T11:00:00.000Z',
    lastSeen: '2026-01-01T11:59:57.000Z',
    ...extra,
  };
}

function planRecord(extra: Partial<Plan> = {}): Plan {
  return {
    id: PLAN_ID,
    createdAt: '2026-01-01T11:59:00.000Z',
    state: 'proposed',
    proposal: {},
    findings: [],
    runs: 0,
    fence: 0,
    ...extra,
  };
}

const kvPlan = {
  moves: [
    { from: 'ag-1', to: 'ag-4', slotCount: 1365, estimatedKeys: 1200, estimatedBytes: 3 * 1048576 },
    { from: 'ag-2', to: 'ag-4', slotCount: 1366, estimatedKeys: 1300, estimatedBytes: 2048 },
  ],
  estimate: { slots: 2731, keys: 2500, bytes: 3 * 1048576 + 2048, sampledKeys: 100 },
} as unknown as NonNullable<Plan['kv']>;

describe('argument parsing', () => {
  it('takes global options before or after the command', () => {
    const before = parse(['--url', 'http://ctl:9000', '--json', 'nodes', '--role', 'kv']);
    const after = parse(['nodes', '--role', 'kv', '--url', 'http://ctl:9000', '--json']);
    for (const inv of [before, after]) {
      expect(inv.global).toMatchObject({ url: 'http://ctl:9000', json: true });
      expect(inv.command).toEqual({ kind: 'nodes', role: 'kv' });
    }
  });

  it('takes the URL from --url, then SWB_CONTROLLER_URL, then the default', () => {
    const env = { SWB_CONTROLLER_URL: 'http://env:1' };
    expect(parse(['status', '--url', 'http://flag:1'], env).global.url).toBe('http://flag:1');
    expect(parse(['status'], env).global.url).toBe('http://env:1');
    expect(parse(['status']).global.url).toBe('http://127.0.0.1:8080');
  });

  it('remembers whether the token came from --token or SWB_ADMIN_TOKEN', () => {
    const env = { SWB_ADMIN_TOKEN: 'from-env' };
    expect(parse(['status', '--token', 'from-flag'], env).global).toMatchObject({
      token: 'from-flag',
      tokenSource: 'flag',
    });
    expect(parse(['status'], env).global).toMatchObject({ token: 'from-env', tokenSource: 'env' });
    expect(parse(['status']).global).toMatchObject({ token: undefined, tokenSource: 'none' });
  });

  it('parses drain with --wait and a timeout in seconds, minutes or milliseconds', () => {
    expect(parse(['drain', 'w-1']).command).toEqual({
      kind: 'drain',
      id: 'w-1',
      wait: false,
      timeoutMs: 60_000,
    });
    expect(parse(['drain', 'w-1', '--wait', '--timeout', '2m']).command).toMatchObject({
      wait: true,
      timeoutMs: 120_000,
    });
    expect(parse(['drain', '--wait', '--timeout', '90', 'w-1']).command).toMatchObject({
      timeoutMs: 90_000,
    });
    expect(parse(['drain', 'w-1', '--wait', '--timeout', '500ms']).command).toMatchObject({
      timeoutMs: 500,
    });
  });

  it('parses the plan subcommands', () => {
    expect(parse(['plan', '--file', 'p.json']).command).toEqual({
      kind: 'plan',
      source: { file: 'p.json' },
    });
    expect(parse(['plan', '--stdin']).command).toEqual({ kind: 'plan', source: { stdin: true } });
    expect(parse(['plan', 'apply', PLAN_ID, '--watch']).command).toEqual({
      kind: 'plan-apply',
      id: PLAN_ID,
      watch: true,
    });
    expect(parse(['plan', 'show', PLAN_ID]).command).toEqual({ kind: 'plan-show', id: PLAN_ID });
    expect(parse(['plan', 'list']).command).toEqual({ kind: 'plan-list' });
  });

  it('answers --help per command and per plan subcommand', () => {
    expect(parse(['--help']).command).toEqual({ kind: 'help', topic: undefined });
    expect(parse(['nodes', '--help']).command).toEqual({ kind: 'help', topic: 'nodes' });
    expect(parse(['plan', 'apply', '-h']).command).toEqual({ kind: 'help', topic: 'plan apply' });
    expect(parse(['help', 'drain']).command).toEqual({ kind: 'help', topic: 'drain' });
    expect(helpText('drain')).toContain('--timeout');
    expect(helpText(undefined)).toContain('exit codes');
  });

  it('refuses what it cannot run with a usage error that says why', () => {
    expect(usage([])).toContain('missing command');
    expect(usage(['frobnicate'])).toContain('unknown command "frobnicate"');
    expect(usage(['nodes', '--colour'])).toContain("Unknown option '--colour'");
    expect(usage(['nodes', '--role', 'chef'])).toContain('--role "chef": one of');
    expect(usage(['nodes', '--status', 'sleepy'])).toContain('--status "sleepy"');
    expect(usage(['drain'])).toContain('missing node id');
    expect(usage(['drain', 'bad/id'])).toContain('is not a node id');
    expect(usage(['drain', 'w-1', '--timeout', '5s'])).toContain('--timeout goes with --wait');
    expect(usage(['drain', 'w-1', '--wait', '--timeout', 'soon'])).toContain('--timeout "soon"');
    expect(usage(['plan'])).toContain('--file proposal.json or --stdin');
    expect(usage(['plan', '--file', 'a', '--stdin'])).toContain('not both');
    expect(usage(['plan', 'apply', 'not-a-uuid'])).toContain('plan ids are UUIDs');
    expect(usage(['plan', 'show', PLAN_ID, '--watch'])).toContain('--watch belongs to plan apply');
    expect(usage(['status', '--url', 'ftp://x'])).toContain('--url must be an http or https URL');
    expect(usage(['status', 'extra'])).toContain('unexpected argument "extra"');
  });

  it('never quotes a mistyped option’s value, which may be the token', () => {
    expect(usage(['status', `--tokn=${TOKEN}`])).not.toContain(TOKEN);
  });
});

describe('formatting', () => {
  it('writes durations and sizes the way an operator reads them', () => {
    expect(duration(850)).toBe('850ms');
    expect(duration(12_400)).toBe('12s');
    expect(duration(185_000)).toBe('3m');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(3 * 1048576)).toBe('3.0 MiB');
  });

  it('lists nodes in a table with their AG, last-seen age and load', () => {
    const text = formatNodes(
      [
        node('w-1', { load: { activeJobs: 3 } }),
        node('kv-1', { roles: ['kv'], ag: 'ag-1', status: 'draining', drained: true }),
      ],
      NOW,
    );
    const [header, first, second] = text.split('\n');
    expect(header).toMatch(/^ID\s+ROLES\s+AG\s+ADDRESS\s+STATUS\s+LAST SEEN\s+LOAD$/);
    expect(first).toMatch(/^w-1\s+worker\s+-\s+10\.0\.0\.1:9100\s+up\s+3s ago\s+3 jobs$/);
    expect(second).toMatch(/^kv-1\s+kv\s+ag-1\s+.*draining\s+3s ago\s+-$/);
    expect(formatNodes([], NOW)).toBe('no nodes');
  });

  it('groups plan findings by severity, errors first, and totals the slot moves', () => {
    const text = formatPlan(
      planRecord({
        findings: [
          { severity: 'info', code: 'sql-primary-critical', message: 'the primary is critical' },
          { severity: 'warning', code: 'kv-rebalance', message: 'moves 2731 slots' },
          { severity: 'error', code: 'group-too-small', message: 'ag-1 has 1 node', group: 'ag-1' },
        ],
        kv: kvPlan,
      }),
    );
    const errors = text.indexOf('errors (1):');
    const warnings = text.indexOf('warnings (1):');
    const advice = text.indexOf('advice (1):');
    expect(errors).toBeGreaterThan(0);
    expect(warnings).toBeGreaterThan(errors);
    expect(advice).toBeGreaterThan(warnings);
    expect(text).toContain('[ag-1] ag-1 has 1 node (group-too-small)');
    expect(text).toMatch(/ag-1\s+ag-4\s+1365\s+~1200\s+~3\.0 MiB/);
    expect(text).toMatch(/total\s+2731\s+~2500\s+~3\.0 MiB/);
  });

  it('summarises status: leader, nodes by status and role, SQL lag and kv AGs', () => {
    const reply: StatusReply = {
      controller: { nodeId: 'ctl-1', leader: true },
      leader: { nodeId: 'ctl-1', fence: 7, url: 'http://10.0.0.2:8080' },
      topologyVersion: 12,
      status: {
        at: '2026-01-01T11:59:59.000Z',
        leader: { nodeId: 'ctl-1', fence: 7 },
        topologyVersion: 12,
        roundMs: 40,
        leases: {},
        probes: {
          sql: {
            primary: { address: 'db1:3306', healthy: true, role: 'primary' },
            replicas: [{ address: 'db2:3306', healthy: true, role: 'replica', lagMs: 120 }],
          },
          kv: {
            state: 'ok',
            groups: [
              {
                id: 'ag-1',
                primary: 'r1:7000',
                replicas: ['r2:7000'],
                slots: 16384,
                keys: 42,
                memoryUsedBytes: 2 * 1048576,
              },
            ],
            findings: [],
          },
          bus: [],
          search: [],
        },
      },
    };
    const text = formatStatus(
      reply,
      {
        version: 12,
        updatedAt: '2026-01-01T11:58:00.000Z',
        leader: { nodeId: 'ctl-1', fence: 7 },
        nodes: [node('w-1'), node('w-2', { status: 'down' }), node('kv-1', { roles: ['kv'] })],
        sql: {
          primary: { address: 'db1:3306', healthy: true },
          replicas: [{ address: 'db2:3306', healthy: true }],
        },
        kv: {
          state: 'ok',
          groups: [{ id: 'ag-1', primary: 'r1:7000', replicas: ['r2:7000'], slots: 16384 }],
        },
        bus: { endpoints: [{ address: 'mq:5672', reachable: true }] },
        search: { endpoints: [] },
      },
      NOW,
    );
    expect(text).toMatch(/controller\s+ctl-1 \(leader\)/);
    expect(text).toMatch(/leader\s+ctl-1, fence 7/);
    expect(text).toMatch(/topology\s+version 12, updated 2m ago/);
    expect(text).toMatch(/nodes\s+3: 2 up, 1 down/);
    expect(text).toMatch(/roles\s+2 worker, 1 kv/);
    expect(text).toMatch(/sql replica\s+db2:3306 healthy, lag 120ms/);
    expect(text).toMatch(/kv\s+ok, 1 AG/);
    expect(text).toMatch(/ag-1\s+r1:7000\s+r2:7000\s+16384\s+42\s+2\.0 MiB/);
  });
});

describe('error mapping', () => {
  const client = (tokenSource: 'flag' | 'env' | 'none') =>
    new ControllerClient({
      fetch: () => Promise.reject(new Error('unused')),
      url: 'http://user:pw@ctl:8080/',
      token: tokenSource === 'none' ? undefined : TOKEN,
      tokenSource,
    });

  it('says which token is missing or refused on a 401, and which is wrong on a 403', () => {
    const body = { code: 'SWB_CTL_UNAUTHORIZED', message: 'the bearer token is not valid' };
    expect(client('none').toError('GET', '/v1/nodes', 401, body).message).toContain(
      'no admin token was given: pass --token or set SWB_ADMIN_TOKEN',
    );
    expect(client('flag').toError('GET', '/v1/nodes', 401, body).message).toContain(
      'the admin token from --token was refused',
    );
    expect(client('env').toError('GET', '/v1/nodes', 401, body).message).toContain(
      'the admin token from SWB_ADMIN_TOKEN was refused',
    );
    expect(client('env').toError('GET', '/v1/nodes', 403, body).message).toContain(
      'is not the admin token (it looks like the join token',
    );
  });

  it('never shows the credentials of the URL', () => {
    const error = client('flag').toError('GET', '/v1/nodes', 401, undefined);
    expect(error.message).toContain('http://ctl:8080');
    expect(error.message).not.toContain('pw');
  });

  it('names the id on a 404 and the server’s field on a 400', () => {
    const notFound = client('env').toError(
      'POST',
      '/v1/nodes/w-9/drain',
      404,
      { code: 'SWB_CTL_NOT_FOUND', message: 'no node "w-9"' },
      { resource: 'node "w-9"' },
    );
    expect(notFound.message).toBe('node "w-9" not found on the controller at http://ctl:8080');
    const invalid = client('env').toError('POST', '/v1/plans', 400, {
      code: 'SWB_CTL_INVALID_REQUEST',
      message: 'body/sql/replicas must be <= 64',
    });
    expect(invalid.message).toContain('body/sql/replicas must be <= 64');
    expect(invalid.exitCode).toBe(2);
  });

  it('suspects the URL when a 404 is not the controller’s', () => {
    const error = client('env').toError('GET', '/v1/status', 404, undefined, {});
    expect(error.message).toContain('is --url a Switchboard controller?');
  });
});

describe('runCli', () => {
  it('names the URL when the controller is unreachable, and exits 1 without the token', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'ECONNREFUSED' },
    });
    const cli = io(() => Promise.reject(refused));
    const code = await runCli(['status', '--url', 'http://10.9.9.9:8080', '--token', TOKEN], cli);
    expect(code).toBe(1);
    expect(cli.stderr.text).toBe(
      'switchboard: cannot reach the controller at http://10.9.9.9:8080: ECONNREFUSED\n',
    );
    expect(cli.stdout.text).toBe('');
  });

  it('sends the token only in the Authorization header, and never prints it on a 401', async () => {
    const { fetch, calls } = fakeFetch({
      'GET /v1/nodes': () => apiError(401, 'SWB_CTL_UNAUTHORIZED', 'the bearer token is not valid'),
    });
    const cli = io(fetch);
    expect(await runCli(['nodes'], cli)).toBe(1);
    expect(calls[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(calls[0]?.url).not.toContain(TOKEN);
    expect(cli.stderr.text).toContain('the admin token from SWB_ADMIN_TOKEN was refused');
    expect(cli.stderr.text + cli.stdout.text).not.toContain(TOKEN);
  });

  it('masks the token even if a server echoes it back', async () => {
    const { fetch } = fakeFetch({
      'GET /v1/nodes': () => apiError(400, 'X', `bad header Bearer ${TOKEN}`),
    });
    const cli = io(fetch);
    expect(await runCli(['nodes'], cli)).toBe(2);
    expect(cli.stderr.text).toContain('Bearer ***');
    expect(cli.stderr.text).not.toContain(TOKEN);
  });

  it('writes errors as JSON on stderr with --json', async () => {
    const { fetch } = fakeFetch({
      'POST /v1/nodes/w-9/drain': () => apiError(404, 'SWB_CTL_NOT_FOUND', 'no node "w-9"'),
    });
    const cli = io(fetch);
    expect(await runCli(['drain', 'w-9', '--json', '--url', 'http://ctl:1'], cli)).toBe(1);
    expect(JSON.parse(cli.stderr.text)).toEqual({
      error: {
        code: 'SWB_CLI_NOT_FOUND',
        message: 'node "w-9" not found on the controller at http://ctl:1',
        statusCode: 404,
      },
    });
  });

  it('filters nodes by role and status in the query and prints a table or JSON', async () => {
    const { fetch, calls } = fakeFetch({
      'GET /v1/nodes': () => json(200, { nodes: [node('w-1')] }),
    });
    const cli = io(fetch);
    expect(await runCli(['nodes', '--role', 'worker', '--status', 'up'], cli)).toBe(0);
    expect(new URL(calls[0]?.url ?? '').search).toBe('?role=worker&status=up');
    expect(cli.stdout.text).toMatch(/^ID\s+ROLES/);
    const asJson = io(fetch);
    expect(await runCli(['nodes', '--json'], asJson)).toBe(0);
    expect(JSON.parse(asJson.stdout.text)).toEqual({ nodes: [node('w-1')] });
  });

  it('exits 2 for a plan with errors and 0 for one with warnings only', async () => {
    const bodies: unknown[] = [];
    const { fetch } = fakeFetch({
      'POST /v1/plans': [
        (call) => {
          bodies.push(JSON.parse(call.body ?? 'null'));
          return json(
            201,
            planRecord({ findings: [{ severity: 'error', code: 'e', message: 'bad' }] }),
          );
        },
        () =>
          json(201, planRecord({ findings: [{ severity: 'warning', code: 'w', message: 'hm' }] })),
      ],
    });
    const files: Record<string, string> = { 'bad.json': '{"kv":{"groupSizes":[1]}}' };
    const readFile = (path: string) => Promise.resolve(files[path] ?? '');
    const bad = io(fetch, { readFile });
    expect(await runCli(['plan', '--file', 'bad.json'], bad)).toBe(2);
    expect(bodies[0]).toEqual({ kv: { groupSizes: [1] } });
    expect(bad.stdout.text).toContain('errors (1):');
    expect(bad.stdout.text).toContain('the plan has errors');
    const good = io(fetch, { stdin: Readable.from(['{"sql":', '{"replicas":5}}']) });
    expect(await runCli(['plan', '--stdin'], good)).toBe(0);
    expect(good.stdout.text).toContain('warnings (1):');
  });

  it('refuses a proposal that is not JSON before calling the controller', async () => {
    const { fetch, calls } = fakeFetch({});
    const cli = io(fetch, { readFile: () => Promise.resolve('{nope') });
    expect(await runCli(['plan', '-f', 'p.json'], cli)).toBe(2);
    expect(cli.stderr.text).toContain('p.json is not JSON');
    expect(calls).toHaveLength(0);
  });

  it('drains with --wait until the node reports no active work, one line per change', async () => {
    const { fetch } = fakeFetch({
      'POST /v1/nodes/w-1/drain': () =>
        json(200, node('w-1', { status: 'draining', drained: true })),
      'GET /v1/nodes/w-1': [
        () => json(200, node('w-1', { status: 'draining', load: { activeJobs: 3 } })),
        () => json(200, node('w-1', { status: 'draining', load: { activeJobs: 1 } })),
        () => json(200, node('w-1', { status: 'draining', load: { activeJobs: 0 } })),
      ],
    });
    const cli = io(fetch);
    expect(await runCli(['drain', 'w-1', '--wait'], cli)).toBe(0);
    expect(cli.stdout.text.split('\n')).toEqual([
      'node w-1: draining (drained: takes no new work)',
      'waiting for w-1 to finish its work: 0/3 done, 3 jobs active, 0ms of 1m',
      'waiting for w-1 to finish its work: 2/3 done, 1 job active, 1s of 1m',
      'waiting for w-1 to finish its work: 3/3 done, 0 jobs active, 2s of 1m',
      'node w-1 is drained and idle after 2s',
      '',
    ]);
  });

  it('fails drain --wait at the timeout and says the node stays drained', async () => {
    const { fetch } = fakeFetch({
      'POST /v1/nodes/w-1/drain': () =>
        json(200, node('w-1', { status: 'draining', drained: true })),
      'GET /v1/nodes/w-1': () => json(200, node('w-1', { load: { activeCalls: 2 } })),
    });
    const cli = io(fetch);
    expect(await runCli(['drain', 'w-1', '--wait', '--timeout', '3s'], cli)).toBe(1);
    expect(cli.stderr.text).toContain(
      'node w-1 still has 2 calls active after 3s; it stays drained',
    );
  });

  it('drains with --wait and returns at once for a node with nothing active', async () => {
    const { fetch } = fakeFetch({
      'POST /v1/nodes/w-1/drain': () =>
        json(200, node('w-1', { status: 'draining', drained: true })),
      'GET /v1/nodes/w-1': () => json(200, node('w-1', { status: 'draining' })),
    });
    const cli = io(fetch);
    expect(await runCli(['drain', 'w-1', '--wait'], cli)).toBe(0);
    expect(cli.stdout.text).toBe(
      'node w-1: draining (drained: takes no new work)\nnode w-1 is drained and idle after 0ms\n',
    );
  });

  it('shows status before any leader has written a topology', async () => {
    const { fetch } = fakeFetch({
      'GET /v1/status': () =>
        json(200, {
          controller: { nodeId: 'ctl-1', leader: false },
          leader: null,
          topologyVersion: 0,
          status: null,
        }),
      'GET /v1/topology': () => new Response(null, { status: 204 }),
    });
    const cli = io(fetch);
    expect(await runCli(['status'], cli)).toBe(0);
    expect(cli.stdout.text).toMatch(/leader\s+none elected/);
    expect(cli.stdout.text).toMatch(/topology\s+none yet/);
  });

  it('resumes a node', async () => {
    const { fetch } = fakeFetch({ 'POST /v1/nodes/w-1/resume': () => json(200, node('w-1')) });
    const cli = io(fetch);
    expect(await runCli(['resume', 'w-1'], cli)).toBe(0);
    expect(cli.stdout.text).toBe('node w-1: up\n');
  });

  const applying = (slotsDone: number, keysMoved: number) =>
    planRecord({
      state: 'applying',
      kv: kvPlan,
      progress: {
        phase: 'migrate',
        slotsDone,
        slotsTotal: 2731,
        keysMoved,
        updatedAt: '2026-01-01T12:00:00.000Z',
      },
    });
  const applied = planRecord({
    state: 'applied',
    kv: kvPlan,
    result: { slotsMoved: 2731, slotsAlreadyPlaced: 0, keysMoved: 2500, elapsedMs: 4200 },
  });

  it('applies a plan and, with --watch, prints progress lines until it is applied', async () => {
    const { fetch, calls } = fakeFetch({
      [`POST /v1/plans/${PLAN_ID}/apply`]: () => json(202, planRecord({ state: 'applying' })),
      [`GET /v1/plans/${PLAN_ID}`]: [
        () => json(200, applying(0, 0)),
        () => json(200, applying(1000, 900)),
        () => json(200, applying(1000, 900)),
        () => json(200, applied),
      ],
    });
    const cli = io(fetch);
    expect(await runCli(['plan', 'apply', PLAN_ID, '--watch'], cli)).toBe(0);
    expect(calls[0]?.method).toBe('POST');
    expect(cli.stdout.text.split('\n')).toEqual([
      `plan ${PLAN_ID}: 0/2731 slots, 0 keys moved (migrate)`,
      `plan ${PLAN_ID}: 1000/2731 slots, 900 keys moved (migrate)`,
      'applied: 2731 slots moved (0 already in place), 2500 keys, in 4s',
      '',
    ]);
  });

  it('draws a progress bar when stdout is a terminal', async () => {
    const { fetch } = fakeFetch({
      [`POST /v1/plans/${PLAN_ID}/apply`]: () => json(202, planRecord({ state: 'applying' })),
      [`GET /v1/plans/${PLAN_ID}`]: [
        () => json(200, applying(1000, 900)),
        () => json(200, applied),
      ],
    });
    const cli = io(fetch, { tty: true });
    expect(await runCli(['plan', 'apply', PLAN_ID, '--watch'], cli)).toBe(0);
    expect(cli.stdout.text).toContain('█');
    expect(cli.stdout.text).toContain('1000/2731 slots, 900 keys moved');
    expect(cli.stdout.text).toContain('applied: 2731 slots moved');
  });

  it('exits 1 with the plan’s error when the watched plan fails', async () => {
    const { fetch } = fakeFetch({
      [`POST /v1/plans/${PLAN_ID}/apply`]: () => json(202, planRecord({ state: 'applying' })),
      [`GET /v1/plans/${PLAN_ID}`]: () =>
        json(200, { ...applying(10, 5), state: 'failed', error: 'ag-4 refused MIGRATE' }),
    });
    const cli = io(fetch);
    expect(await runCli(['plan', 'apply', PLAN_ID, '--watch'], cli)).toBe(1);
    expect(cli.stderr.text).toContain(`plan ${PLAN_ID} failed at migrate, 10/2731 slots`);
    expect(cli.stderr.text).toContain('ag-4 refused MIGRATE');
  });

  it('rides out a controller that is briefly unavailable while watching', async () => {
    const { fetch } = fakeFetch({
      [`POST /v1/plans/${PLAN_ID}/apply`]: () => json(202, planRecord({ state: 'applying' })),
      [`GET /v1/plans/${PLAN_ID}`]: [
        () => apiError(503, 'SWB_CTL_UNAVAILABLE', 'store away'),
        () => json(200, applied),
      ],
    });
    const cli = io(fetch);
    expect(await runCli(['plan', 'apply', PLAN_ID, '--watch', '--json'], cli)).toBe(0);
    expect(JSON.parse(cli.stdout.text)).toMatchObject({ state: 'applied' });
  });

  it('reports a refused apply (409) with the controller’s reason', async () => {
    const { fetch } = fakeFetch({
      [`POST /v1/plans/${PLAN_ID}/apply`]: () =>
        apiError(409, 'SWB_CTL_CONFLICT', 'the plan has errors; fix the proposal and plan again'),
    });
    const cli = io(fetch);
    expect(await runCli(['plan', 'apply', PLAN_ID], cli)).toBe(1);
    expect(cli.stderr.text).toBe(
      'switchboard: the plan has errors; fix the proposal and plan again\n',
    );
  });

  it('lists and shows plans', async () => {
    const { fetch } = fakeFetch({
      'GET /v1/plans': () => json(200, { plans: [applied] }),
      [`GET /v1/plans/${PLAN_ID}`]: () => json(200, applying(5, 3)),
    });
    const list = io(fetch);
    expect(await runCli(['plan', 'list'], list)).toBe(0);
    expect(list.stdout.text).toMatch(new RegExp(`${PLAN_ID}\\s+\\S+\\s+applied\\s+0\\s+0\\s+2731`));
    const show = io(fetch);
    expect(await runCli(['plan', 'show', PLAN_ID], show)).toBe(0);
    expect(show.stdout.text).toContain('progress: migrate, 5/2731 slots, 3 keys moved');
  });

  it('prints help on stdout and exits 0', async () => {
    const cli = io(() => Promise.reject(new Error('no call expected')));
    expect(await runCli(['plan', '--help'], cli)).toBe(0);
    expect(cli.stdout.text).toContain('usage: switchboard plan');
  });
});
