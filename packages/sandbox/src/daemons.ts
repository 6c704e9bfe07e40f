import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOOPBACK } from './layout.js';
import {
  DAEMONS,
  daemonEntry,
  daemonEnvironment,
  daemonLogFile,
  daemonOpsPort,
  ensureSandboxSecrets,
  type SandboxSecrets,
  type DaemonSpec,
} from './platform.js';
import { elapsed, isAlive, spawnLogged, stopPid, type Spawned } from './process.js';
import type { SandboxInfo } from './types.js';

export interface RunningDaemon {
  readonly spec: DaemonSpec;
  readonly pid: number | undefined;
  readonly entry: string;
  readonly logFile: string;
  /** `http://127.0.0.1:<port>/readyz`. */
  readonly readyUrl: string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  readonly exitReason: () => string | undefined;
}

export interface StartDaemonsOptions {
  /** The checkout; daemons are `packages/<name>/dist/main.js` under it. */
  readonly repoRoot: string;
  /** The user's environment; it wins over the sandbox's defaults. */
  readonly userEnv: Readonly<Record<string, string | undefined>>;
  readonly daemons?: readonly DaemonSpec[];
  /** The controllers' tokens; default the sandbox's own (made on first use). */
  readonly tokens?: SandboxSecrets;
}

/** The daemons whose build exists, and the ones skipped because it does not. */
export function builtDaemons(
  repoRoot: string,
  daemons: readonly DaemonSpec[] = DAEMONS,
): { readonly built: DaemonSpec[]; readonly missing: DaemonSpec[] } {
  const built = daemons.filter((d) => existsSync(daemonEntry(repoRoot, d)));
  return { built, missing: daemons.filter((d) => !built.includes(d)) };
}

/**
 * Starts each built daemon as a child process with its log file as stdout and stderr. Each runs
 * in its own process group, so a ^C in the terminal reaches only the supervisor, which then
 * stops the daemons in order with `stopDaemons`.
 */
export async function startDaemons(
  info: SandboxInfo,
  options: StartDaemonsOptions,
): Promise<RunningDaemon[]> {
  const { built } = builtDaemons(options.repoRoot, options.daemons);
  const tokens = options.tokens ?? ensureSandboxSecrets(info);
  return Promise.all(
    built.map(async (spec): Promise<RunningDaemon> => {
      const entry = daemonEntry(options.repoRoot, spec);
      const logFile = daemonLogFile(info, spec);
      const spawned: Spawned = await spawnLogged(process.execPath, [entry], {
        logFile,
        cwd: options.repoRoot,
        env: daemonEnvironment(info, spec, options.userEnv, tokens),
        detached: true,
        unref: false,
      });
      return {
        spec,
        pid: spawned.child.pid,
        entry,
        logFile,
        readyUrl: `http://${LOOPBACK}:${daemonOpsPort(info, spec)}/readyz`,
        exited: spawned.exited,
        exitReason: spawned.exitReason,
      };
    }),
  );
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** `drachtio: no drachtio-server: …; sql.primary: connect ECONNREFUSED` from a /readyz body. */
export function unreadyReasons(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as {
      dependencies?: { name?: string; ok?: boolean; error?: string }[];
    };
    const failing = (parsed.dependencies ?? []).filter((d) => d.ok === false);
    if (failing.length === 0) return undefined;
    return failing.map((d) => `${d.name ?? '?'}: ${d.error ?? 'not ok'}`).join('; ');
  } catch {
    return undefined; // not our JSON: the status code alone says enough
  }
}

export type DaemonReadiness =
  | { readonly state: 'ready'; readonly path: string; readonly afterMs: number }
  | { readonly state: 'exited'; readonly reason: string }
  | { readonly state: 'not-ready'; readonly afterMs: number; readonly lastAnswer: string };

/** Polls the daemon's /readyz (or /healthz if it has no /readyz) until 200, exit or the bound. */
export async function waitDaemonReady(
  daemon: RunningDaemon,
  timeoutMs: number,
): Promise<DaemonReadiness> {
  const startedAt = performance.now();
  const base = daemon.readyUrl.replace(/\/readyz$/, '');
  let lastAnswer = 'no answer';
  while (performance.now() - startedAt < timeoutMs) {
    const reason = daemon.exitReason();
    if (reason !== undefined) return { state: 'exited', reason };
    for (const path of ['/readyz', '/healthz']) {
      try {
        const { status: code, body } = await httpGet(`${base}${path}`, 1000);
        if (code === 200) return { state: 'ready', path, afterMs: performance.now() - startedAt };
        const reasons = unreadyReasons(body);
        lastAnswer = `${path} answered ${code}${reasons === undefined ? '' : `: ${reasons}`}`;
        if (code !== 404) break; // it has /readyz and is not ready yet
      } catch (error) {
        lastAnswer = error instanceof Error ? error.message : String(error);
        break;
      }
    }
    await sleep(250);
  }
  return { state: 'not-ready', afterMs: performance.now() - startedAt, lastAnswer };
}

/** SIGTERM to every daemon, then SIGKILL to those still running after the bound. */
export async function stopDaemons(
  daemons: readonly RunningDaemon[],
  timeoutMs: number,
  onProgress: (line: string) => void = () => undefined,
): Promise<void> {
  await Promise.all(
    daemons.map(async (daemon) => {
      if (daemon.pid === undefined || !(await isAlive(daemon.pid))) return;
      const startedAt = performance.now();
      const outcome = await stopPid(daemon.pid, timeoutMs);
      if (outcome === 'stopped')
        onProgress(`${daemon.spec.name}: stopped in ${elapsed(startedAt)}`);
      if (outcome === 'killed') {
        onProgress(`${daemon.spec.name}: killed (no exit within ${timeoutMs / 1000} s of SIGTERM)`);
      }
    }),
  );
}
