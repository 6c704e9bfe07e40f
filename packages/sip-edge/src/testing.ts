// The `@switchboard/sip-edge/testing` entry: runs SIPp scenarios against a real drachtio-server
// (the end-to-end suite and the `sip` bench share it): finds (or starts) the server and SIPp, and
// says why not when either is missing. Nothing here builds or installs drachtio-server; point
// DRACHTIO_HOST at a running one, or put a `drachtio` binary on PATH (or name it in DRACHTIO_BIN)
// and the harness starts it on loopback ports with a throwaway config.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Topology } from '@switchboard/runtime';

/** The directory of the SIPp scenarios (`test/e2e/`, from `src/` or `dist/` alike). */
export const scenarioDir = fileURLToPath(new URL('../test/e2e/', import.meta.url));

/** An executable named `name` on `path` (a PATH value), or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Where the edge's control connection goes and where SIPp sends SIP. */
export interface DrachtioTarget {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  /** drachtio-server's SIP address, `host:port` (UDP). */
  readonly sip: string;
  stop(): Promise<void>;
}

export type DrachtioSource =
  | { readonly kind: 'external'; readonly host: string }
  | { readonly kind: 'binary'; readonly path: string };

/**
 * How this run can reach a drachtio-server and SIPp, or why it cannot (`skip`): the reason is
 * part of the skipped suite's name, so a skip is never mistaken for a pass.
 */
export function e2eEnvironment(
  env: NodeJS.ProcessEnv,
): { source: DrachtioSource; sipp: string; skip?: undefined } | { skip: string } {
  const sipp = env.SIPP_BIN ?? findOnPath('sipp', env.PATH);
  if (sipp === undefined) return { skip: 'SIPp not found: put sipp on PATH or set SIPP_BIN' };
  if (env.DRACHTIO_HOST !== undefined && env.DRACHTIO_HOST !== '') {
    return { source: { kind: 'external', host: env.DRACHTIO_HOST }, sipp };
  }
  const binary = env.DRACHTIO_BIN ?? findOnPath('drachtio', env.PATH);
  if (binary === undefined) {
    return {
      skip: 'no drachtio-server: set DRACHTIO_HOST (and DRACHTIO_PORT, DRACHTIO_SECRET, DRACHTIO_SIP), or put a drachtio binary on PATH or in DRACHTIO_BIN',
    };
  }
  return { source: { kind: 'binary', path: binary }, sipp };
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${String(port)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The drachtio-server of this run: the external one, or one started from the binary. */
export async function startDrachtio(
  source: DrachtioSource,
  env: NodeJS.ProcessEnv,
): Promise<DrachtioTarget> {
  if (source.kind === 'external') {
    return {
      host: source.host,
      port: Number(env.DRACHTIO_PORT ?? 9022),
      secret: env.DRACHTIO_SECRET ?? 'cymru',
      sip: env.DRACHTIO_SIP ?? `${source.host}:5060`,
      stop: () => Promise.resolve(),
    };
  }
  const adminPort = await freePort();
  const sipPort = await freePort();
  const secret = `e2e-${String(process.pid)}-${String(Date.now())}`;
  const dir = mkdtempSync(join(tmpdir(), 'swb-drachtio-'));
  const configFile = join(dir, 'drachtio.conf.xml');
  // Its log (and the rotated files, which drachtio otherwise archives under the working
  // directory) stays in the run's own folder; DRACHTIO_LOG_LEVEL=notice drops the per-message
  // lines, which cost a loaded server real time.
  const logLevel = env.DRACHTIO_LOG_LEVEL ?? 'info';
  if (!/^(notice|error|warning|info|debug)$/.test(logLevel)) {
    throw new Error(
      `DRACHTIO_LOG_LEVEL must be notice, error, warning, info or debug, not "${logLevel}"`,
    );
  }
  writeFileSync(
    configFile,
    `<drachtio>
  <admin port="${String(adminPort)}" secret="${secret}">127.0.0.1</admin>
  <sip>
    <contacts><contact>sip:127.0.0.1:${String(sipPort)};transport=udp,tcp</contact></contacts>
  </sip>
  <logging><file><name>${join(dir, 'drachtio.log')}</name><archive>${join(dir, 'archive')}</archive><maxFiles>2</maxFiles></file><loglevel>${logLevel}</loglevel><sofia-loglevel>1</sofia-loglevel></logging>
</drachtio>
`,
  );
  const child: ChildProcess = spawn(source.path, ['-f', configFile], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  try {
    await waitForTcp('127.0.0.1', adminPort, 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    host: '127.0.0.1',
    port: adminPort,
    secret,
    sip: `127.0.0.1:${String(sipPort)}`,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SippResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the run, ms. */
  readonly elapsedMs: number;
}

export interface SippOptions {
  /** A file of `scenarioDir` by name, or an absolute path. */
  readonly scenario: string;
  /** `host:port` to send to; omitted for a UAS that only listens. */
  readonly target?: string;
  readonly keys?: Readonly<Record<string, string>>;
  /** Digest credentials; `uri` is the digest URI without `sip:` (SIPp's default, remote_ip:port, never matches the Request-URI). */
  readonly auth?: { readonly username: string; readonly password: string; readonly uri: string };
  readonly calls?: number;
  /** Calls per second; SIPp's default is 10. */
  readonly rate?: number;
  /** Simultaneous calls at most. */
  readonly limit?: number;
  readonly localIp?: string;
  readonly localPort?: number;
  readonly timeoutSeconds?: number;
  /** SIPp's -d: the length of a scenario's bare <pause/>, ms. */
  readonly pauseMs?: number;
  readonly extra?: readonly string[];
}

/** Runs SIPp once; resolves when it exits (0: every call succeeded). */
export function runSipp(
  sipp: string,
  options: SippOptions,
): Promise<SippResult> & {
  child: ChildProcess;
} {
  const args = [
    ...(options.target === undefined ? [] : [options.target]),
    '-sf',
    isAbsolute(options.scenario) ? options.scenario : join(scenarioDir, options.scenario),
    '-m',
    String(options.calls ?? 1),
    '-i',
    options.localIp ?? '127.0.0.1',
    '-timeout',
    `${String(options.timeoutSeconds ?? 30)}s`,
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(tmpdir(), `sipp-${basename(options.scenario)}-${String(process.pid)}.err`),
    ...(options.localPort === undefined ? [] : ['-p', String(options.localPort)]),
    ...(options.rate === undefined ? [] : ['-r', String(options.rate)]),
    ...(options.limit === undefined ? [] : ['-l', String(options.limit)]),
    ...(options.pauseMs === undefined ? [] : ['-d', String(options.pauseMs)]),
    ...(options.auth === undefined
      ? []
      : [
          '-au',
          options.auth.username,
          '-ap',
          options.auth.password,
          '-auth_uri',
          options.auth.uri,
        ]),
    ...Object.entries(options.keys ?? {}).flatMap(([key, value]) => ['-key', key, value]),
    ...(options.extra ?? []),
  ];
  const began = Date.now();
  const child = spawn(sipp, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // SIPp's own -timeout does not always end a run whose calls wait on a socket: a backstop.
  const killer = setTimeout(
    () => child.kill('SIGKILL'),
    ((options.timeoutSeconds ?? 30) + 5) * 1000,
  );
  const done = new Promise<SippResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - began });
    });
  });
  return Object.assign(done, { child });
}

/** The last lines of a SIPp run, for an assertion message. */
export function describeRun(result: SippResult): string {
  const tail = (text: string) => text.split('\n').slice(-25).join('\n');
  return `sipp exited ${String(result.code)} after ${String(result.elapsedMs)} ms\n${tail(result.stderr)}\n${tail(result.stdout)}`;
}

/**
 * A UDP relay in front of drachtio-server's SIP port that removes the SHA-256 challenge from the
 * 401s and 407s it passes back, leaving the MD5 one. Why: SIPp 3.6 answers the first challenge
 * only and supports MD5 only, while the edge offers SHA-256 first (RFC 8760). Each phone gets its
 * own upstream socket bound to the phone's own IP, so the edge still sees the phone's address
 * (flood control counts per address). Only what SIPp sends through the relay passes it: requests
 * drachtio-server sends to a phone's Contact go straight to the phone.
 */
export async function startMd5Relay(target: string): Promise<{ address: string; close(): void }> {
  const [targetHost = '127.0.0.1', targetPort = '5060'] = target.split(':');
  const front = createSocket('udp4');
  const upstreams = new Map<string, UdpSocket>();
  const stripSha256 = (text: string): string =>
    text.replace(/^(?:WWW|Proxy)-Authenticate:[^\r\n]*algorithm=SHA-256[^\r\n]*\r\n/gim, '');
  front.on('message', (message, from) => {
    const key = `${from.address}:${String(from.port)}`;
    let upstream = upstreams.get(key);
    if (upstream === undefined) {
      const socket = createSocket('udp4');
      socket.bind(0, from.address);
      socket.on('message', (reply) => {
        const text = reply.toString('latin1');
        const rewritten = /^SIP\/2\.0 40[17] /.test(text) ? stripSha256(text) : text;
        front.send(Buffer.from(rewritten, 'latin1'), from.port, from.address);
      });
      upstreams.set(key, socket);
      upstream = socket;
    }
    upstream.send(message, Number(targetPort), targetHost);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${String(front.address().port)}`,
    close() {
      for (const socket of upstreams.values()) socket.close();
      front.close();
    },
  };
}

/** A controller that registers the edge and serves one topology listing the PBX nodes. */
export async function startFakeController(
  pbxNodes: () => { id: string; address: string }[],
): Promise<{
  url: string;
  server: Server;
}> {
  const server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const url = request.url ?? '';
      if (request.method === 'POST') {
        response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      } else if (request.method === 'PUT') {
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ topologyVersion: 1, drained: false, leaseTtlMs: 60_000 }));
      } else if (
        request.method === 'GET' &&
        url.startsWith('/v1/topology') &&
        !url.includes('since=')
      ) {
        const topology: Topology = {
          version: 1,
          updatedAt: new Date().toISOString(),
          leader: null,
          nodes: pbxNodes().map((node) => ({
            id: node.id,
            roles: ['pbx'],
            address: node.address,
            version: '1',
            status: 'up',
            drained: false,
            registeredAt: new Date().toISOString(),
          })),
          sql: { primary: null, replicas: [] },
          kv: { state: 'unknown', groups: [] },
          bus: { endpoints: [] },
          search: { endpoints: [] },
        };
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(topology));
      } else if (request.method === 'DELETE') {
        response.writeHead(204).end();
      }
      // A long poll for a newer topology is held until the server closes.
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${String(address.port)}`, server };
}
