#!/usr/bin/env node
// The sandbox's command line: `npm run sandbox -- up|down|status|reset|start`, and `npm start`.
// The only module of this package that reads the environment, prints or exits.
import { join } from 'node:path';
import {
  builtDaemons,
  startDaemons,
  stopDaemons,
  waitDaemonReady,
  type RunningDaemon,
} from './daemons.js';
import { sandboxOptionsFromEnv } from './env.js';
import { SandboxError } from './errors.js';
import { repositoryRoot } from './layout.js';
import {
  MIGRATE_ENTRY,
  sandboxSecretsFile,
  controllerUrls,
  daemonEntry,
  ensureSandboxSecrets,
  migrateEnvironment,
} from './platform.js';
import { elapsed, run } from './process.js';
import { down, ensureUp, reset, status, type ServerStatus } from './sandbox.js';
import type { SandboxInfo, SandboxOptions } from './types.js';

const USAGE = `usage: npm run sandbox -- <command>

  up       start every server (reusing running ones) and wait until each is ready
  status   each server's address, pid and health (a real protocol check)
  down     stop the servers the sandbox started; data stays
  reset    down, then delete the sandbox's folder
  start    up, then run every built daemon against the sandbox (npm start);
           ^C stops the daemons and leaves the servers running, unless --down is given

environment: SWB_SANDBOX_DIR (default <checkout>/.sandbox), SWB_SANDBOX_PORT_BASE (default 17400)`;

const DAEMON_READY_TIMEOUT_MS = 30_000;
const DAEMON_STOP_TIMEOUT_MS = 10_000;

const startedAt = performance.now();
function log(line: string): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(5);
  console.log(`[${seconds} s] ${line}`);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

function endpointsTable(info: SandboxInfo): string {
  const cluster = info.redisCluster.nodes;
  return table([
    ['mariadb primary', info.mariadb.primary.uri],
    ['mariadb replicas', info.mariadb.replicas.map((r) => r.uri).join(', ')],
    ['redis', info.redis.url],
    [
      'redis cluster',
      `127.0.0.1:${cluster[0]?.port ?? '?'}..${cluster[cluster.length - 1]?.port ?? '?'} (3 primaries + 3 replicas)`,
    ],
    ['rabbitmq', info.rabbitmq.url],
    [
      's3',
      `${info.s3.endpoint} (bucket ${info.s3.bucket}, keys ${info.s3.accessKeyId}/${info.s3.secretAccessKey})`,
    ],
    ['info', `${info.root}/sandbox.json`],
  ]);
}

function statusTable(rows: readonly ServerStatus[]): string {
  return table([
    ['SERVER', 'ADDRESS', 'PID', 'HEALTH', 'DETAIL'],
    ...rows.map((s) => [
      s.name,
      s.address,
      s.pid === undefined ? '-' : String(s.pid),
      s.health,
      s.detail,
    ]),
  ]);
}

async function commandUp(options: SandboxOptions): Promise<SandboxInfo> {
  const { info } = await ensureUp(options);
  console.log(`\n${endpointsTable(info)}\n`);
  return info;
}

async function commandStatus(options: SandboxOptions): Promise<number> {
  const rows = await status(options);
  console.log(statusTable(rows));
  const unhealthy = rows.filter((r) => r.health !== 'healthy');
  if (unhealthy.length > 0) {
    console.log(
      `\n${unhealthy.length} of ${rows.length} servers not healthy; logs: ${unhealthy[0]?.logFile ?? ''} …`,
    );
  }
  return unhealthy.length === 0 ? 0 : 1;
}

/** Runs `npm run migrate`'s command against the platform database; false when it failed. */
async function migrateSchema(info: SandboxInfo, repoRoot: string): Promise<boolean> {
  const startedAt = performance.now();
  try {
    const { stdout } = await run(process.execPath, [join(repoRoot, MIGRATE_ENTRY), 'migrate'], {
      env: migrateEnvironment(info, process.env),
      cwd: repoRoot,
      timeoutMs: 120_000,
    });
    for (const line of stdout.trim().split('\n')) log(`migrate: ${line}`);
    log(`migrate: done in ${elapsed(startedAt)}`);
    return true;
  } catch (error) {
    log(
      `migrate: failed; no daemon started\n${error instanceof Error ? error.message : String(error)}`,
    );
    return false;
  }
}

async function commandStart(options: SandboxOptions, downAfter: boolean): Promise<number> {
  const info = await commandUp(options);
  const repoRoot = repositoryRoot();
  const { built, missing } = builtDaemons(repoRoot);
  for (const spec of missing) {
    log(`${spec.name}: not built (${daemonEntry(repoRoot, spec)} missing), skipped`);
  }
  if (built.length === 0) {
    log(
      'no daemon is built yet: nothing to run. The sandbox servers stay running (`npm run sandbox -- down` stops them).',
    );
    return 0;
  }
  // The schema first: daemons start on tables that exist.
  const migrated = await migrateSchema(info, repoRoot);
  if (!migrated) return 1;
  const tokens = ensureSandboxSecrets(info);
  const daemons = await startDaemons(info, { repoRoot, userEnv: process.env, tokens });
  console.log(
    `\n${table([
      ['DAEMON', 'PID', 'OPS ENDPOINT', 'LOG'],
      ...daemons.map((d) => [d.spec.name, String(d.pid ?? '-'), d.readyUrl, d.logFile]),
    ])}\n`,
  );

  const state = { stopping: false };
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolvePromise) => {
    resolveDone = resolvePromise;
  });
  const running = new Set<RunningDaemon>(daemons);

  const shutdown = async (code: number, why: string): Promise<void> => {
    if (state.stopping) return;
    state.stopping = true;
    log(
      `${why}: stopping ${running.size} daemon${running.size === 1 ? '' : 's'} (SIGTERM, SIGKILL after ${DAEMON_STOP_TIMEOUT_MS / 1000} s)`,
    );
    await stopDaemons([...running], DAEMON_STOP_TIMEOUT_MS, log);
    if (downAfter) {
      log('--down: stopping the sandbox servers');
      await down({ ...options, onProgress: log });
    } else {
      log('the sandbox servers stay running (`npm run sandbox -- down` stops them)');
    }
    resolveDone(code);
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      log(`${signal} again: killing the daemons now`);
      for (const d of running) if (d.pid !== undefined) process.kill(d.pid, 'SIGKILL');
      return;
    }
    void shutdown(0, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (const daemon of daemons) {
    void daemon.exited.then(() => {
      running.delete(daemon);
      if (state.stopping) return;
      log(`${daemon.spec.name}: ${daemon.exitReason() ?? 'exited'} — see ${daemon.logFile}`);
      if (running.size === 0) void shutdown(1, 'every daemon exited');
    });
  }

  await Promise.all(
    daemons.map(async (daemon) => {
      const readiness = await waitDaemonReady(daemon, DAEMON_READY_TIMEOUT_MS);
      if (state.stopping) return;
      switch (readiness.state) {
        case 'ready':
          log(
            `${daemon.spec.name}: ready (${readiness.path}) in ${(readiness.afterMs / 1000).toFixed(1)} s`,
          );
          break;
        case 'not-ready':
          log(
            `${daemon.spec.name}: not ready after ${(readiness.afterMs / 1000).toFixed(0)} s ` +
              `(${readiness.lastAnswer}); still running — see ${daemon.logFile}`,
          );
          break;
        case 'exited':
          break; // reported by the exit watcher
      }
    }),
  );
  if (!state.stopping) {
    // Where to look, never the tokens themselves: they stay in their 0600 file.
    const [api] = controllerUrls(info);
    log(`dashboard: ${api ?? ''}/dashboard and API docs: ${api ?? ''}/docs`);
    log(`secrets (admin and join tokens, SIP nonce key): ${sandboxSecretsFile(info)}`);
    log('running; ^C stops the daemons');
  }
  return done;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  const options: SandboxOptions = { ...sandboxOptionsFromEnv(process.env), onProgress: log };
  switch (command) {
    case 'up':
      await commandUp(options);
      return 0;
    case 'down': {
      const { stopped } = await down(options);
      log(stopped.length === 0 ? 'nothing was running' : `stopped ${stopped.length} servers`);
      return 0;
    }
    case 'status':
      return commandStatus(options);
    case 'reset':
      await reset(options);
      return 0;
    case 'start':
      return commandStart(options, args.includes('--down'));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 1;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const code = error instanceof SandboxError ? ` [${error.code}]` : '';
  console.error(`\nsandbox: ${error instanceof Error ? error.message : String(error)}${code}`);
  process.exitCode = 1;
}
// Detached servers and closed clients leave nothing that should keep us alive.
process.exit();
