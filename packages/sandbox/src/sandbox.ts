import { access, chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isRootUser, STOP_TIMEOUT_MS, type StartContext } from './context.js';
import { SandboxError, SandboxErrorCode, SandboxStartError } from './errors.js';
import {
  DEFAULT_PORT_BASE,
  LOOPBACK,
  SERVER_NAMES,
  allServers,
  defaultSandboxRoot,
  infoFromLayout,
  sandboxLayout,
  type SandboxLayout,
  type ServerName,
  type ServerPaths,
} from './layout.js';
import { mariadbHealth, upMariaDb } from './mariadb.js';
import { elapsed, ownedPid, probePort, stopServer, withLock, type StopOutcome } from './process.js';
import { amqpProbe, downRabbitMq, epmdNames, upRabbitMq } from './rabbitmq.js';
import { clusterNodeHealth, redisHealth, upRedis, upRedisCluster } from './redis.js';
import { s3Probe, upS3 } from './s3.js';
import type { SandboxInfo, SandboxOptions } from './types.js';

const DEFAULT_READY_TIMEOUT_MS = 60_000;

/** What `ensureUp` did. */
export interface UpResult {
  readonly info: SandboxInfo;
  /** Servers this call started; the others were already running and were reused. */
  readonly started: readonly ServerName[];
  readonly elapsedMs: number;
}

export interface DownOptions extends SandboxOptions {
  /** Only these servers; default all. */
  readonly servers?: readonly ServerName[];
  /** Bound on each graceful stop before SIGKILL; default 20 s. */
  readonly stopTimeoutMs?: number;
}

export interface DownResult {
  /** Servers that were running and were stopped (gracefully or, after the bound, killed). */
  readonly stopped: readonly ServerName[];
  /** Of those, the ones that needed SIGKILL. */
  readonly killed: readonly ServerName[];
}

export type ServerHealth = 'healthy' | 'unhealthy' | 'stopped';

/** One line of `status`. */
export interface ServerStatus {
  readonly name: ServerName;
  readonly address: string;
  readonly pid: number | undefined;
  readonly health: ServerHealth;
  /** What the protocol check answered, or why it failed. */
  readonly detail: string;
  readonly logFile: string;
}

export interface StatusOptions extends SandboxOptions {
  /** Bound on each server's protocol check; default 2 s. */
  readonly probeTimeoutMs?: number;
}

function layoutFor(options: SandboxOptions): SandboxLayout {
  return sandboxLayout(
    resolve(options.root ?? defaultSandboxRoot()),
    options.portBase ?? DEFAULT_PORT_BASE,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `root` was made by the sandbox (or does not exist yet). */
async function ownsRoot(layout: SandboxLayout): Promise<'missing' | 'ours' | 'foreign'> {
  if (!(await exists(layout.root))) return 'missing';
  if (await exists(layout.markerFile)) return 'ours';
  return (await readdir(layout.root)).length === 0 ? 'missing' : 'foreign';
}

function notASandbox(layout: SandboxLayout): SandboxError {
  return new SandboxError(
    SandboxErrorCode.notASandbox,
    `${layout.root} exists, is not empty and was not made by the sandbox (no ${layout.markerFile}); ` +
      'choose another folder (SWB_SANDBOX_DIR)',
  );
}

async function prepareRoot(layout: SandboxLayout): Promise<void> {
  if ((await ownsRoot(layout)) === 'foreign') throw notASandbox(layout);
  await mkdir(layout.root, { recursive: true });
  // RabbitMQ runs as its own user and must traverse the folder.
  await chmod(layout.root, 0o755);
  await writeFile(
    layout.markerFile,
    'Made by @switchboard/sandbox; `npm run sandbox -- reset` deletes this folder.\n',
  );
  for (const dir of [layout.logsDir, layout.runDir, layout.blobsDir]) {
    await mkdir(dir, { recursive: true });
  }
}

/**
 * Brings every server up, reusing the ones already running (a live pid of ours whose port
 * answers), and waits until each is ready. Writes the result to `<root>/sandbox.json`. A server
 * that fails to start makes it throw, naming the server and quoting its log; the servers that did
 * start keep running, so a second call only retries the missing ones.
 */
export async function ensureUp(options: SandboxOptions = {}): Promise<UpResult> {
  const layout = layoutFor(options);
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const progress = options.onProgress ?? (() => undefined);
  const startedAt = performance.now();
  await prepareRoot(layout);
  return withLock(layout.lockFile, timeoutMs * 3, async () => {
    const ctx: StartContext = { timeoutMs, progress, started: new Set(), isRoot: isRootUser() };
    const groups: readonly (readonly [string, () => Promise<void>])[] = [
      ['mariadb', () => upMariaDb(layout, ctx)],
      ['redis', () => upRedis(layout, ctx)],
      ['redis-cluster', () => upRedisCluster(layout, ctx)],
      ['rabbitmq', () => upRabbitMq(layout, ctx)],
      ['s3', () => upS3(layout, ctx)],
    ];
    const results = await Promise.allSettled(groups.map(([, start]) => start()));
    const failures = results.flatMap((result, i) =>
      result.status === 'rejected'
        ? [{ group: groups[i]?.[0] ?? '?', error: result.reason as unknown }]
        : [],
    );
    const [first] = failures;
    if (first !== undefined) {
      if (failures.length === 1) throw first.error;
      throw new SandboxStartError(
        `the sandbox did not come up; ${failures.length} servers failed:\n` +
          failures
            .map(
              ({ group, error }) =>
                `- ${group}: ${error instanceof Error ? error.message : String(error)}`,
            )
            .join('\n'),
        { cause: new AggregateError(failures.map((f) => f.error)) },
      );
    }
    const info = infoFromLayout(layout);
    await writeFile(layout.infoFile, `${JSON.stringify(info, null, 2)}\n`);
    const started = SERVER_NAMES.filter((name) => ctx.started.has(name));
    progress(
      `sandbox: up in ${elapsed(startedAt)} (${started.length} started, ` +
        `${SERVER_NAMES.length - started.length} already running); ${layout.infoFile}`,
    );
    return { info, started, elapsedMs: performance.now() - startedAt };
  });
}

/** `ensureUp`, returning only where the servers listen. */
export async function up(options: SandboxOptions = {}): Promise<SandboxInfo> {
  return (await ensureUp(options)).info;
}

/**
 * Stops the sandbox's servers by their pid files (SIGTERM, then SIGKILL after the bound), and
 * nothing else: a pid whose command line is not the expected server is left alone. Data stays.
 */
export async function down(options: DownOptions = {}): Promise<DownResult> {
  const layout = layoutFor(options);
  if ((await ownsRoot(layout)) !== 'ours') return { stopped: [], killed: [] };
  const progress = options.onProgress ?? (() => undefined);
  const timeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
  const selected = new Set<ServerName>(options.servers ?? SERVER_NAMES);
  return withLock(layout.lockFile, timeoutMs * 3 + 60_000, async () => {
    const outcomes = new Map<ServerName, StopOutcome>();
    const stopOne = async (server: ServerPaths): Promise<void> => {
      const startedAt = performance.now();
      const outcome = await stopServer(server, timeoutMs);
      outcomes.set(server.name, outcome);
      report(server.name, outcome, startedAt);
    };
    const report = (name: ServerName, outcome: StopOutcome, startedAt: number): void => {
      if (outcome === 'stopped') progress(`${name}: stopped in ${elapsed(startedAt)}`);
      if (outcome === 'killed')
        progress(`${name}: killed (no exit within ${timeoutMs / 1000} s of SIGTERM)`);
    };
    const plain = allServers(layout).filter(
      (s) => selected.has(s.name) && s.name !== 'rabbitmq' && s.name !== 'epmd',
    );
    await Promise.all([
      ...plain.map(stopOne),
      (async () => {
        const startedAt = performance.now();
        // The node first, its epmd after: a node outliving its epmd cannot deregister cleanly.
        const result = await downRabbitMq(
          layout,
          { rabbitmq: selected.has('rabbitmq'), epmd: selected.has('epmd') },
          timeoutMs,
        );
        outcomes.set('rabbitmq', result.rabbitmq);
        outcomes.set('epmd', result.epmd);
        report('rabbitmq', result.rabbitmq, startedAt);
        report('epmd', result.epmd, startedAt);
      })(),
    ]);
    const stopped = SERVER_NAMES.filter((n) => {
      const outcome = outcomes.get(n);
      return outcome === 'stopped' || outcome === 'killed';
    });
    return { stopped, killed: SERVER_NAMES.filter((n) => outcomes.get(n) === 'killed') };
  });
}

/** `down`, then deletes the sandbox's folder (only a folder the sandbox made). */
export async function reset(options: DownOptions = {}): Promise<DownResult> {
  const layout = layoutFor(options);
  const owner = await ownsRoot(layout);
  if (owner === 'foreign') throw notASandbox(layout);
  const result = await down(options);
  if (owner === 'ours') {
    await rm(layout.root, { recursive: true, force: true, maxRetries: 3 });
    options.onProgress?.(`sandbox: deleted ${layout.root}`);
  }
  return result;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer in ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

function probeFor(layout: SandboxLayout, server: ServerPaths, timeoutMs: number): Promise<string> {
  const { mariadb, redis, redisCluster, rabbitmq, s3, epmd } = layout;
  const sql = [mariadb.primary, ...mariadb.replicas].find((n) => n === server);
  if (sql !== undefined) return mariadbHealth(layout, sql, timeoutMs);
  if (server === redis) return redisHealth(redis, timeoutMs);
  const clusterNode = redisCluster.find((n) => n === server);
  if (clusterNode !== undefined) return clusterNodeHealth(clusterNode, timeoutMs);
  if (server === epmd) {
    return epmdNames(epmd.port, timeoutMs).then((names) =>
      names.length === 0 ? 'no node registered' : names.join('; '),
    );
  }
  if (server === rabbitmq) {
    return amqpProbe(`amqp://guest:guest@${LOOPBACK}:${rabbitmq.port}`, timeoutMs).then(
      (product) => `AMQP 0-9-1 ok (${product})`,
    );
  }
  if (server === s3) return s3Probe(s3.port, timeoutMs);
  return Promise.reject(new Error(`no probe for ${server.name}`));
}

/** Each server's pid and a real protocol check of it, each bounded by a short timeout. */
export async function status(options: StatusOptions = {}): Promise<ServerStatus[]> {
  const layout = layoutFor(options);
  const timeoutMs = options.probeTimeoutMs ?? 2000;
  return Promise.all(
    allServers(layout).map(async (server): Promise<ServerStatus> => {
      const base = {
        name: server.name,
        address: `${LOOPBACK}:${server.port}`,
        logFile: server.logFile,
      };
      const pid = await ownedPid(server);
      if (pid === undefined && !(await probePort(server.port, timeoutMs))) {
        return { ...base, pid, health: 'stopped', detail: 'not running' };
      }
      try {
        const detail = await withTimeout(
          probeFor(layout, server, timeoutMs),
          timeoutMs + 500,
          server.name,
        );
        if (pid === undefined) {
          return {
            ...base,
            pid,
            health: 'unhealthy',
            detail: `answers, but not a process of this sandbox (${detail})`,
          };
        }
        return { ...base, pid, health: 'healthy', detail };
      } catch (error) {
        return {
          ...base,
          pid,
          health: 'unhealthy',
          detail: error instanceof Error ? error.message : String(error),
        };
      }
    }),
  );
}

/** The `SandboxInfo` the last `up` wrote, or undefined when there is none. */
export async function readSandboxInfo(
  options: SandboxOptions = {},
): Promise<SandboxInfo | undefined> {
  const layout = layoutFor(options);
  try {
    return JSON.parse(await readFile(layout.infoFile, 'utf8')) as SandboxInfo;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Where the servers of a sandbox listen, without starting anything. */
export function sandboxInfo(options: SandboxOptions = {}): SandboxInfo {
  return infoFromLayout(layoutFor(options));
}
