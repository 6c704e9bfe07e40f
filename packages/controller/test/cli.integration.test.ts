import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import {
  adminToken,
  joinToken,
  registration,
  startController,
  waitFor,
  type TestController,
} from './helpers.js';

const info = inject('sandbox');
const BIN = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let ctl: TestController;
let dir: string;
const worker = uniqueName('cliw');
const kvNode = uniqueName('clikv');

class Capture {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** Runs the CLI's functions in-process against the test controller, with real fetch. */
async function cli(argv: string[], env: Record<string, string> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, {
    fetch: (url, init) => fetch(url, init),
    stdout,
    stderr,
    env: { SWB_CONTROLLER_URL: ctl.url, SWB_ADMIN_TOKEN: adminToken, ...env },
    pollIntervalMs: 100,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Runs the built executable, as an operator would. */
function binary(argv: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      {
        env: {
          PATH: process.env.PATH ?? '',
          SWB_CONTROLLER_URL: ctl.url,
          SWB_ADMIN_TOKEN: adminToken,
          ...env,
        },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function heartbeat(id: string, load: { activeJobs?: number; activeCalls?: number }) {
  return ctl.call(`/v1/nodes/${id}/heartbeat`, {
    method: 'PUT',
    token: joinToken,
    body: JSON.stringify({ load }),
  });
}

async function proposal(name: string, body: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(body));
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swb-cli-'));
  ctl = await startController(info, uniqueName('cli'), { SWB_REGISTRY_LEASE_TTL_MS: '60000' });
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
  for (const body of [registration(worker), registration(kvNode, ['kv'], { ag: 'ag-1' })]) {
    const response = await ctl.call('/v1/nodes', { method: 'POST', token: joinToken, body });
    expect(response.status).toBe(200);
  }
  await heartbeat(worker, { activeJobs: 0 });
  await waitFor('both nodes in the topology', () =>
    (ctl.daemon.feed.current?.nodes.length ?? 0) >= 2 ? true : undefined,
  );
});

afterAll(async () => {
  await ctl.close();
  await rm(dir, { recursive: true, force: true });
});

describe('switchboard status and nodes', () => {
  // The controller registers itself as a node too: two test nodes + the controller.
  it('shows the controller as leader and counts the registered nodes', async () => {
    const result = await cli(['status']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`controller\\s+${ctl.config.nodeId} \\(leader\\)`));
    expect(result.stdout).toMatch(/nodes\s+3: 3 up/);
    expect(result.stdout).toMatch(/roles\s+.*1 controller/);
    expect(result.stdout).toMatch(/roles\s+.*1 kv/);
    expect(result.stdout).toMatch(/roles\s+.*1 worker/);
    expect(result.stdout).toMatch(/sql primary\s+\S+/);

    const asJson = await cli(['status', '--json']);
    const parsed = JSON.parse(asJson.stdout) as {
      controller: { leader: boolean };
      nodeCounts: { total: number; byStatus: Record<string, number> };
    };
    expect(parsed.controller.leader).toBe(true);
    expect(parsed.nodeCounts).toMatchObject({ total: 3, byStatus: { up: 3 } });
  });

  it('lists nodes filtered by role, with the AG and last-seen age', async () => {
    const kv = await cli(['nodes', '--role', 'kv']);
    expect(kv.code).toBe(0);
    expect(kv.stdout).toMatch(
      new RegExp(`${kvNode}\\s+kv\\s+ag-1\\s+127\\.0\\.0\\.1:9\\s+up\\s+\\d+\\w+ ago`),
    );
    expect(kv.stdout).not.toContain(worker);

    const all = await cli(['nodes', '--json']);
    const ids = (JSON.parse(all.stdout) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    expect(ids.sort()).toEqual([ctl.config.nodeId, kvNode, worker].sort());
  });
});

describe('switchboard drain and resume', () => {
  it('drains a node and, with --wait, returns once it reports no active jobs', async () => {
    await heartbeat(worker, { activeJobs: 2 });
    const finishing = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      await heartbeat(worker, { activeJobs: 0 });
    })();
    const result = await cli(['drain', worker, '--wait', '--timeout', '15s']);
    await finishing;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`node ${worker}: draining (drained: takes no new work)`);
    expect(result.stdout).toMatch(/0\/2 done, 2 jobs active/);
    expect(result.stdout).toContain(`node ${worker} is drained and idle`);

    const resumed = await cli(['resume', worker]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe(`node ${worker}: up\n`);
  });

  it('fails drain --wait at the timeout while the node is still busy, and keeps it drained', async () => {
    await heartbeat(kvNode, { activeCalls: 1 });
    const result = await cli(['drain', kvNode, '--wait', '--timeout', '500ms']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`node ${kvNode} still has 1 call active`);
    const node = (await (await ctl.call(`/v1/nodes/${kvNode}`)).json()) as { drained: boolean };
    expect(node.drained).toBe(true);
    expect((await cli(['resume', kvNode])).code).toBe(0);
  });

  it('names the node id it does not know', async () => {
    const missing = uniqueName('nobody');
    const result = await cli(['drain', missing]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `switchboard: node "${missing}" not found on the controller at ${ctl.url}\n`,
    );
  });
});

describe('switchboard plan', () => {
  it('prints a warning for five SQL replicas and exits 0', async () => {
    const file = await proposal('five.json', { sql: { replicas: 5 } });
    const result = await cli(['plan', '--file', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^plan [0-9a-f-]{36}: proposed/);
    expect(result.stdout).toContain('warnings (1):');
    expect(result.stdout).toContain('(sql-replicas-beyond-four)');
    expect(result.stdout).not.toContain('errors (');

    const id = /^plan ([0-9a-f-]{36})/.exec(result.stdout)?.[1] ?? '';
    const shown = await cli(['plan', 'show', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('(sql-replicas-beyond-four)');
    const listed = await cli(['plan', 'list']);
    expect(listed.stdout).toContain(id);
  });

  it('exits 2 for an Availability Group of one node', async () => {
    const file = await proposal('small-ag.json', { kv: { groupSizes: [1, 2, 2] } });
    const result = await cli(['plan', '--file', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/errors \(\d+\):/);
    expect(result.stdout).toContain('availability group ag-1 has 1 node');
  });

  it('prints the field the controller refused and exits 2', async () => {
    const file = await proposal('typo.json', { sql: { replicas: 'five' } });
    const result = await cli(['plan', '--file', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^switchboard: the controller refused the request: .*replicas/);
  });

  it('names the plan id it does not know', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const result = await cli(['plan', 'show', id]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`plan ${id} not found`);
  });
});

describe('switchboard tokens', () => {
  it('says the admin token from SWB_ADMIN_TOKEN was refused, without printing it', async () => {
    const wrong = 'wrong-admin-token-0123456789';
    const result = await cli(['nodes'], { SWB_ADMIN_TOKEN: wrong });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the admin token from SWB_ADMIN_TOKEN was refused');
    expect(result.stderr + result.stdout).not.toContain(wrong);
  });

  it('says the join token is not the admin token', async () => {
    const result = await cli(['nodes', '--token', joinToken]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the token from --token is not the admin token');
    expect(result.stderr).not.toContain(joinToken);
  });

  it('names the URL of a controller it cannot reach', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const result = await cli(['status', '--url', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `switchboard: cannot reach the controller at http://127.0.0.1:${port}: ECONNREFUSED\n`,
    );
  });
});

describe('the built switchboard executable', () => {
  it('exists (build it with npx tsc -b)', () => {
    expect(existsSync(BIN), `${BIN} is missing: run npx tsc -b first`).toBe(true);
  });

  it('prints the status as JSON and exits 0', async () => {
    const result = await binary(['status', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ controller: { leader: true } });
  });

  it('lists nodes as a table', async () => {
    const result = await binary(['nodes']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ID\s+ROLES\s+AG/);
    expect(result.stdout).toContain(worker);
  });

  it('exits 2 for a plan with errors and 1 for a refused token', async () => {
    const file = await proposal('bin-small-ag.json', { kv: { groupSizes: [1] } });
    expect((await binary(['plan', '--file', file])).code).toBe(2);
    const refused = await binary(['nodes', '--token', 'not-the-token-abcdef']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the admin token from --token was refused');
    expect(refused.stderr).not.toContain('not-the-token-abcdef');
  });

  it('manages SIP accounts, reading the password from standard input, never from an argument', async () => {
    const domain = `${uniqueName('sip')}.example`;
    const password = 'stdin-password-42';
    const added = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, 'accounts', 'add', `alice@${domain}`],
        {
          env: {
            PATH: process.env.PATH ?? '',
            SWB_CONTROLLER_URL: ctl.url,
            SWB_ADMIN_TOKEN: adminToken,
          },
        },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
        },
      );
      child.stdin?.end(`${password}\n`);
    });
    expect(added.stderr).toBe('');
    expect(added.stdout).toContain(`created alice@${domain}`);
    expect((await binary(['accounts', 'disable', `alice@${domain}`])).stdout).toContain('disabled');
    const listed = await binary(['accounts', 'list', '--domain', domain]);
    expect(listed.stdout).toMatch(new RegExp(`alice@${domain.replace(/\./g, '\\.')}\\s+disabled`));
    expect(listed.stdout).not.toContain(password);
    const fromEnv = await binary(['accounts', 'add', `bob@${domain}`], {
      SWB_SIP_PASSWORD: 'env-password-42',
    });
    expect(fromEnv.stdout).toContain(`created bob@${domain}`);
    expect((await binary(['accounts', 'remove', `bob@${domain}`])).stdout).toContain('removed');
    const missing = await binary(['accounts', 'enable', `carol@${domain}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('carol');
    expect((await binary(['accounts', 'add', 'no-domain'])).code).toBe(2);
  });

  it('exits 2 on a usage error', async () => {
    const result = await binary(['nodes', '--role', 'chef']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--role "chef"');
  });
});
