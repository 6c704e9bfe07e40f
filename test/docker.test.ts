// The image's own scripts, run here without Docker: the entrypoint's role dispatch (with a
// stand-in `node` on PATH that prints what it was asked to run), the Dockerfile's promise to
// ship what the entrypoint runs, and the compose healthcheck against a real loopback server.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const entrypoint = join(root, 'docker', 'entrypoint.sh');
const healthcheck = join(root, 'docker', 'healthcheck.mjs');

/** Each role, and the script and leading arguments it must run (paths from the checkout). */
const dispatch: Readonly<Record<string, readonly string[]>> = {
  controller: ['packages/controller/dist/main.js'],
  queue: ['packages/queue/dist/main.js'],
  worker: ['packages/worker/dist/main.js'],
  'sip-edge': ['packages/sip-edge/dist/main.js'],
  migrate: ['packages/storage/dist/cli.js', 'migrate'],
  switchboard: ['packages/controller/dist/cli.js'],
};

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function outcome(file: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(file, args, { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    } satisfies Outcome;
  }
}

describe('docker/entrypoint.sh', () => {
  let bin: string;

  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'swb-entrypoint-'));
    // Prints each argument on its own line, so the test sees exactly what would have run.
    await writeFile(join(bin, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    await chmod(join(bin, 'node'), 0o755);
  });

  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });

  const entry = (args: readonly string[]): Promise<Outcome> =>
    outcome('sh', [entrypoint, ...args], { PATH: `${bin}:/usr/bin:/bin` });

  it.each(Object.entries(dispatch))(
    'runs the %s role from its built entry, passing the arguments on',
    async (role, expected) => {
      const result = await entry([role, '--help', 'two words']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const [script, ...args] = result.stdout.trimEnd().split('\n');
      const [entryFile = '', ...leading] = expected;
      expect(script).toBe(join(root, entryFile));
      expect(args).toEqual([...leading, '--help', 'two words']);
      expect(existsSync(join(root, entryFile)), `${entryFile} is built`).toBe(true);
    },
  );

  it('rejects an unknown role, naming the roles it knows, and runs nothing', async () => {
    const result = await entry(['contoller']);
    expect(result.code).toBe(64);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("unknown role 'contoller'");
    for (const role of Object.keys(dispatch)) expect(result.stderr).toContain(role);
  });

  it('prints its usage when no role is given (exit 64) or help is asked for (exit 0)', async () => {
    const none = await entry([]);
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('usage:');
    const help = await entry(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage:');
  });
});

describe('Dockerfile', () => {
  let dockerfile: string;

  beforeAll(async () => {
    dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  });

  it('builds on a Node 22 or 24 slim image and runs as the non-root node user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-bookworm-slim$/m);
    const stages = [...dockerfile.matchAll(/^FROM (\S+) AS (\S+)$/gm)].map((m) => [m[2], m[1]]);
    expect(Object.fromEntries(stages)).toMatchObject({
      base: '${NODE_IMAGE}',
      build: 'base',
      runtime: '${NODE_IMAGE}',
    });
    const runtime = dockerfile.slice(dockerfile.indexOf(' AS runtime'));
    expect(runtime).toMatch(/^ENV NODE_ENV=production$/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/app\/docker\/entrypoint\.sh"\]$/m);
  });

  it('ships the built entry of every role and the healthcheck compose runs', () => {
    const runtime = dockerfile.slice(dockerfile.indexOf(' AS runtime'));
    const packages = new Set(
      Object.values(dispatch).map(
        (expected) => /^packages\/([^/]+)\//.exec(expected[0] ?? '')?.[1],
      ),
    );
    for (const name of packages) {
      expect(runtime).toContain(`COPY --from=build /app/packages/${String(name)}/dist`);
      expect(runtime).toContain(`COPY --from=build /app/packages/${String(name)}/package.json`);
    }
    expect(runtime).toMatch(/^COPY docker\/entrypoint\.sh docker\/healthcheck\.mjs docker\/$/m);
  });
});

describe('docker/healthcheck.mjs', () => {
  let server: Server;
  let port: number;
  let status = 200;

  beforeAll(async () => {
    server = createServer((request, response) => {
      response.statusCode = request.url === '/readyz' ? status : 404;
      response.end(JSON.stringify({ status: status === 200 ? 'ready' : 'unready' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => {
      server.close((error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  });

  const check = (env: NodeJS.ProcessEnv): Promise<Outcome> =>
    outcome(process.execPath, [healthcheck], { PATH: process.env.PATH, ...env });

  it('passes when /readyz on SWB_OPS_PORT answers 200', async () => {
    status = 200;
    expect(await check({ SWB_OPS_PORT: String(port) })).toMatchObject({ code: 0 });
  });

  it('fails when /readyz answers 503, and says what it answered', async () => {
    status = 503;
    const result = await check({ SWB_OPS_PORT: String(port) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('/readyz 503');
  });

  it('fails when nothing listens on the port, or no port is set', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => {
          resolve(free);
        });
      });
    });
    expect((await check({ SWB_OPS_PORT: String(closed) })).code).toBe(1);
    const unset = await check({});
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain('SWB_OPS_PORT');
  });
});
