import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SandboxError,
  SandboxErrorCode,
  SandboxStartError,
  SandboxTimeoutError,
} from './errors.js';
import { LOOPBACK, type ServerPaths } from './layout.js';

/** A clean environment for the servers, so a user's RABBITMQ_* or ERL_* never leaks in. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
};

export function elapsed(startedAt: number): string {
  return `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Alive, and not a zombie waiting to be reaped (signal 0 succeeds on zombies). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errorCode(error) === 'EPERM';
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): trust signal 0
  }
}

/** The process's command line, or undefined when /proc cannot tell. */
async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/**
 * The live pid from a server's pid file, or undefined. A pid whose command line does not
 * mention the server's binary (a stale file after a reboot) is never reported as ours.
 */
export async function ownedPid(
  server: Pick<ServerPaths, 'pidFile' | 'command'>,
): Promise<number | undefined> {
  const pid = await readPid(server.pidFile);
  if (pid === undefined || !(await isAlive(pid))) return undefined;
  const cmd = await commandLine(pid);
  if (cmd !== undefined && !cmd.includes(server.command)) return undefined;
  return pid;
}

/** Whether something accepts TCP connections on the port. */
export function probePort(port: number, timeoutMs = 500, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** The server waited on, for the error. */
  readonly server?: string;
  readonly logFile?: string;
  /** Returns a reason to stop waiting at once (e.g. the process exited). */
  readonly failFast?: () => string | undefined;
}

/**
 * Polls `check` until it returns a value other than undefined. A check that throws counts as
 * "not yet"; the last error becomes the timeout error's cause.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const reason = options.failFast?.();
    if (reason !== undefined) {
      throw await startError(`${what}: ${reason}`, options.server, options.logFile, lastError);
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) break;
    await sleep(options.intervalMs ?? 200);
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  const tail = options.logFile === undefined ? '' : await logExcerpt(options.logFile);
  throw new SandboxTimeoutError(
    `${what}: not ready within ${(options.timeoutMs / 1000).toFixed(0)} s${detail}${tail}`,
    {
      ...(lastError === undefined ? {} : { cause: lastError }),
      ...(options.server === undefined ? {} : { server: options.server }),
      ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    },
  );
}

/** ` — see <log>; last lines: …`, or an empty string when the log is missing. */
export async function logExcerpt(logFile: string, lines = 15): Promise<string> {
  let text: string;
  try {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return ` — see ${logFile}`;
  }
  const last = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-lines);
  if (last.length === 0) return ` — see ${logFile} (empty)`;
  return ` — see ${logFile}; last lines:\n  ${last.join('\n  ')}`;
}

export async function startError(
  message: string,
  server: string | undefined,
  logFile: string | undefined,
  cause?: unknown,
): Promise<SandboxStartError> {
  const tail = logFile === undefined ? '' : await logExcerpt(logFile);
  return new SandboxStartError(`${message}${tail}`, {
    ...(cause === undefined ? {} : { cause }),
    ...(server === undefined ? {} : { server }),
    ...(logFile === undefined ? {} : { logFile }),
  });
}

export interface Spawned {
  readonly child: ChildProcess;
  /** Set once the process exited (or failed to spawn): a sentence for errors. */
  readonly exitReason: () => string | undefined;
  /** Resolves when the process exits, with its code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

export interface SpawnOptions {
  readonly logFile: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Keep running after this process exits (its own session; never sent our terminal's ^C). */
  readonly detached?: boolean;
  /** Let this process exit without waiting for the child; default: same as `detached`. */
  readonly unref?: boolean;
}

/** Starts a process with stdout and stderr appended to its log file. */
export async function spawnLogged(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): Promise<Spawned> {
  await mkdir(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'a');
  let reason: string | undefined;
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      stdio: ['ignore', fd, fd],
      detached: options.detached ?? true,
      env: { ...BASE_ENV, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | null>((resolvePromise) => {
    child.once('error', (error) => {
      reason = `could not run ${command}: ${error.message}`;
      resolvePromise(null);
    });
    child.once('exit', (code, signal) => {
      reason ??= `exited with ${code === null ? `signal ${signal ?? '?'}` : `code ${code}`}`;
      resolvePromise(code);
    });
  });
  if (options.unref ?? options.detached ?? true) child.unref();
  return { child, exited, exitReason: () => reason };
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short command to completion; a failure names the command and quotes its output. */
export function run(
  command: string,
  args: readonly string[],
  options: {
    readonly timeoutMs?: number;
    readonly env?: Readonly<Record<string, string>>;
    readonly uid?: number;
    readonly gid?: number;
    readonly cwd?: string;
  } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      {
        timeout: options.timeoutMs ?? 60_000,
        env: { ...BASE_ENV, ...options.env },
        maxBuffer: 16 * 1024 * 1024,
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      },
      (error, stdout, stderr) => {
        if (error) {
          const output = `${stderr}\n${stdout}`.trim().split('\n').slice(-15).join('\n  ');
          reject(
            new SandboxError(
              SandboxErrorCode.commandFailed,
              `${command} ${args.join(' ')} failed: ${error.message.split('\n')[0] ?? ''}` +
                (output === '' ? '' : `\n  ${output}`),
              { cause: error },
            ),
          );
          return;
        }
        resolvePromise({ stdout, stderr });
      },
    );
  });
}

export type StopOutcome = 'not-running' | 'stopped' | 'killed';

/** SIGTERM, wait up to the bound, then SIGKILL and wait again. */
export async function stopPid(pid: number, timeoutMs: number): Promise<StopOutcome> {
  if (!(await isAlive(pid))) return 'not-running';
  if (!signal(pid, 'SIGTERM')) return 'not-running';
  if (await waitGone(pid, timeoutMs)) return 'stopped';
  signal(pid, 'SIGKILL');
  if (await waitGone(pid, 5000)) return 'killed';
  throw new SandboxTimeoutError(`process ${pid} survived SIGKILL for 5 s`);
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ESRCH') return false;
    throw error;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!(await isAlive(pid))) return true;
    await sleep(50);
  }
  return !(await isAlive(pid));
}

/** Stops a server by its pid file if the pid is ours; removes the pid file afterwards. */
export async function stopServer(server: ServerPaths, timeoutMs: number): Promise<StopOutcome> {
  const pid = await ownedPid(server);
  const outcome = pid === undefined ? 'not-running' : await stopPid(pid, timeoutMs);
  await rm(server.pidFile, { force: true });
  return outcome;
}

/** SIGKILL a server by its pid file (a crash, for fault tests); returns the pid. */
export async function killServer(server: ServerPaths): Promise<number | undefined> {
  const pid = await ownedPid(server);
  if (pid === undefined) return undefined;
  signal(pid, 'SIGKILL');
  if (!(await waitGone(pid, 5000))) {
    throw new SandboxTimeoutError(`${server.name} (pid ${pid}) survived SIGKILL for 5 s`, {
      server: server.name,
    });
  }
  return pid;
}

/**
 * Pids of Erlang port mappers listening on our epmd port (found through their arguments or
 * ERL_EPMD_PORT). Catches an epmd that an Erlang node started on its own, which has no pid file.
 */
export async function findEpmdPids(port: number, ownerRoot: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (!(cmd[0] ?? '').endsWith('epmd')) continue;
      const portArg = cmd.indexOf('-port');
      const byArg = portArg >= 0 && cmd[portArg + 1] === String(port);
      const environ = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0');
      const byEnv = environ.includes(`ERL_EPMD_PORT=${port}`) && portArg < 0;
      // An epmd our RabbitMQ node started inherits its environment, whose paths lie under our
      // folder; one on the same port without them belongs to someone else (another checkout's
      // sandbox) and is not ours to stop.
      const ours = environ.some((variable) => variable.includes(`=${ownerRoot}/`));
      if ((byArg || byEnv) && ours) found.push(Number(entry));
    } catch {
      // The process went away, or is not readable: not ours.
    }
  }
  return found;
}

/**
 * Runs `fn` holding an exclusive lock file, so two `up`s (two test runs, `npm start` and a bench)
 * never race to create the same servers. A lock left by a dead process is taken over.
 */
export async function withLock<T>(
  lockFile: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  // Callers in this process queue up here; the file serialises processes.
  const previous = inProcessLocks.get(lockFile) ?? Promise.resolve();
  const current = previous.then(() => withFileLock(lockFile, timeoutMs, fn));
  const settled = current.then(
    () => undefined,
    () => undefined,
  );
  inProcessLocks.set(lockFile, settled);
  try {
    return await current;
  } finally {
    if (inProcessLocks.get(lockFile) === settled) inProcessLocks.delete(lockFile);
  }
}

const inProcessLocks = new Map<string, Promise<void>>();

async function withFileLock<T>(
  lockFile: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await writeFile(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      const holder = await readPid(lockFile);
      if (holder === undefined || holder === process.pid || !(await isAlive(holder))) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (performance.now() >= deadline) {
        throw new SandboxError(
          SandboxErrorCode.locked,
          `the sandbox is locked by process ${holder} (${lockFile}) for more than ${Math.round(timeoutMs / 1000)} s`,
          { retryable: true },
        );
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}
