import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDaemons, stopDaemons, waitDaemonReady, type RunningDaemon } from '../src/daemons.js';
import type { DaemonSpec } from '../src/platform.js';

// A stand-in daemon: answers /readyz with the environment it was given, logs a line, and exits
// on SIGTERM. It lets the launcher of `npm start` be tested without the real daemons.
const FAKE_MAIN = `
import { createServer } from 'node:http';
const server = createServer((req, res) => {
  if (req.url !== '/readyz') { res.statusCode = 404; res.end(); return; }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ nodeId: process.env.SWB_NODE_ID, amqp: process.env.SWB_AMQP_URLS, level: process.env.SWB_LOG_LEVEL }));
});
server.listen(Number(process.env.SWB_OPS_PORT), process.env.SWB_OPS_HOST, () => console.log('fake daemon listening'));
process.once('SIGTERM', () => { console.log('fake daemon closing'); server.close(); });
`;

const info = inject('sandbox');
const spec: DaemonSpec = { name: 'fake', packageName: 'fake', nodeId: 'fake-1', opsPortOffset: 59 };
let repoRoot: string;
let daemons: RunningDaemon[] = [];

beforeAll(async () => {
  repoRoot = await mkdtemp(join(tmpdir(), 'swb-daemons-'));
  await mkdir(join(repoRoot, 'packages', 'fake', 'dist'), { recursive: true });
  await writeFile(join(repoRoot, 'packages', 'fake', 'dist', 'main.js'), FAKE_MAIN);
  await writeFile(join(repoRoot, 'package.json'), '{ "type": "module" }\n');
});

afterAll(async () => {
  await stopDaemons(daemons, 5000);
  await rm(repoRoot, { recursive: true, force: true });
});

describe('the npm start launcher', () => {
  it('runs a built daemon with the sandbox environment under the user one, and stops it with SIGTERM', async () => {
    // The daemon's log goes under a private root, not the shared sandbox's logs.
    const local = { ...info, root: repoRoot };
    daemons = await startDaemons(local, {
      repoRoot,
      daemons: [spec, { ...spec, name: 'absent', packageName: 'absent' }],
      userEnv: { SWB_LOG_LEVEL: 'debug' },
    });
    expect(daemons.map((d) => d.spec.name)).toEqual(['fake']);
    const [daemon] = daemons;
    if (daemon === undefined) throw new Error('not started');
    expect(daemon.readyUrl).toBe(`http://127.0.0.1:${info.portBase + 59}/readyz`);

    const readiness = await waitDaemonReady(daemon, 10_000);
    expect(readiness.state).toBe('ready');
    const env = (await (await fetch(daemon.readyUrl)).json()) as Record<string, string>;
    expect(env).toEqual({ nodeId: 'fake-1', amqp: info.rabbitmq.url, level: 'debug' });

    await stopDaemons(daemons, 5000);
    expect(await daemon.exited).toBe(0);
    expect(await readFile(daemon.logFile, 'utf8')).toContain('fake daemon closing');
  });
});
