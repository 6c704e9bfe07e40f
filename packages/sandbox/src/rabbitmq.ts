import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { connect as amqpConnect } from 'amqplib';
import { isRootUser, STOP_TIMEOUT_MS, type StartContext } from './context.js';
import { SandboxError, SandboxErrorCode } from './errors.js';
import { LOOPBACK, layoutOf, type RabbitMqLayout, type SandboxLayout } from './layout.js';
import { checkFreePort } from './ports.js';
import {
  elapsed,
  findEpmdPids,
  logExcerpt,
  ownedPid,
  probePort,
  run,
  spawnLogged,
  stopPid,
  stopServer,
  waitFor,
  type Spawned,
  type StopOutcome,
} from './process.js';
import type { SandboxInfo } from './types.js';

const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';

/** The Debian wrapper in /usr/sbin su's to `rabbitmq` and fixes paths; we run the real scripts. */
function rabbitmqScript(name: 'rabbitmq-server' | 'rabbitmqctl'): string {
  const path = `${RABBITMQ_BIN}/${name}`;
  return existsSync(path) ? path : name;
}

/**
 * The environment of our RabbitMQ node and of `rabbitmqctl` for it (pure; unit-tested). Every
 * file RabbitMQ reads or writes is ours, HOME (and so the Erlang cookie) included, and the
 * node registers with its own epmd: nothing here can reach the machine's RabbitMQ.
 */
export function rabbitmqEnvironment(layout: RabbitMqLayout): Record<string, string> {
  return {
    HOME: layout.home,
    RABBITMQ_NODENAME: layout.nodeName,
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_NODE_PORT: String(layout.port),
    RABBITMQ_DIST_PORT: String(layout.distPort),
    ERL_EPMD_PORT: String(layout.epmdPort),
    ERL_EPMD_ADDRESS: LOOPBACK,
    RABBITMQ_MNESIA_BASE: layout.mnesiaBase,
    RABBITMQ_LOG_BASE: layout.logBase,
    RABBITMQ_LOGS: layout.logFile,
    RABBITMQ_PID_FILE: layout.pidFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: layout.enabledPluginsFile,
    RABBITMQ_CONFIG_FILE: layout.configFile,
    RABBITMQ_CONFIG_FILES: layout.configDir,
    RABBITMQ_ADVANCED_CONFIG_FILE: layout.advancedConfigFile,
    // Otherwise /etc/rabbitmq/rabbitmq-env.conf would set the machine node's name.
    RABBITMQ_CONF_ENV_FILE: layout.envFile,
    RABBITMQ_CTL_DIST_PORT_MIN: String(layout.ctlDistPortMin),
    RABBITMQ_CTL_DIST_PORT_MAX: String(layout.ctlDistPortMax),
    // The distribution port listens on every interface unless told otherwise.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

/** rabbitmq.conf of our node (pure). */
export function rabbitmqConfig(layout: RabbitMqLayout): string {
  return [
    '# Written by @switchboard/sandbox; rewritten at every start.',
    `listeners.tcp.default = ${LOOPBACK}:${layout.port}`,
    'loopback_users.guest = true',
    'log.file.level = info',
    '',
  ].join('\n');
}

interface Account {
  readonly uid: number;
  readonly gid: number;
}

let rabbitAccount: Promise<Account | undefined> | undefined;

/** As root, RabbitMQ runs as the `rabbitmq` user (like the Debian wrapper); otherwise as us. */
function account(isRoot: boolean): Promise<Account | undefined> {
  if (!isRoot) return Promise.resolve(undefined);
  rabbitAccount ??= (async () => {
    try {
      const uid = Number((await run('id', ['-u', 'rabbitmq'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'rabbitmq'])).stdout.trim());
      return { uid, gid };
    } catch (error) {
      rabbitAccount = undefined;
      throw new SandboxError(
        SandboxErrorCode.startFailed,
        'rabbitmq: running as root needs the `rabbitmq` user (installed by the rabbitmq-server package)',
        { cause: error, server: 'rabbitmq' },
      );
    }
  })();
  return rabbitAccount;
}

async function prepareFiles(layout: RabbitMqLayout, owner: Account | undefined): Promise<void> {
  for (const dir of [
    layout.dir,
    layout.home,
    layout.mnesiaBase,
    layout.logBase,
    layout.configDir,
  ]) {
    await mkdir(dir, { recursive: true });
  }
  await writeFile(layout.configFile, rabbitmqConfig(layout));
  await writeFile(
    layout.envFile,
    '# Written by @switchboard/sandbox: keeps /etc/rabbitmq/rabbitmq-env.conf out.\n',
  );
  await writeFile(layout.enabledPluginsFile, '[].\n');
  if (owner !== undefined) {
    await run('chown', ['-R', `${owner.uid}:${owner.gid}`, layout.dir]);
    // A checkout under a private folder (/root, a 0700 home) is out of the rabbitmq user's reach;
    // say so here rather than let RabbitMQ fail to boot with an Erlang stack trace.
    try {
      await run('test', ['-w', layout.dir], { uid: owner.uid, gid: owner.gid });
    } catch (error) {
      throw new SandboxError(
        SandboxErrorCode.startFailed,
        `rabbitmq: the rabbitmq user cannot write ${layout.dir}; every folder above it must be ` +
          'traversable by other users (chmod o+x), or choose another folder (SWB_SANDBOX_DIR)',
        { cause: error, server: 'rabbitmq' },
      );
    }
  }
}

/** Names registered with an epmd (its NAMES request), e.g. `['swb-sandbox at port 17431']`. */
export function epmdNames(port: number, timeoutMs = 2000): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const socket = netConnect({ host: LOOPBACK, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`epmd :${port}: no answer in ${timeoutMs} ms`));
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(Buffer.from([0, 1, 110])); // length 1, NAMES_REQ
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      socket.destroy();
      const reply = Buffer.concat(chunks);
      if (reply.length < 4) {
        reject(new Error(`epmd :${port}: short reply`));
        return;
      }
      resolvePromise(
        reply
          .subarray(4)
          .toString('utf8')
          .split('\n')
          .map((line) => line.replace(/^name /, '').trim())
          .filter((line) => line !== ''),
      );
    });
  });
}

async function ensureEpmd(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  const epmd = layout.epmd;
  const startedAt = performance.now();
  const pid = await ownedPid(epmd);
  let spawned: Spawned | undefined;
  if (pid === undefined) {
    await checkFreePort(epmd);
    // In the foreground (no -daemon) so its pid is the one we spawned and can stop.
    spawned = await spawnLogged('epmd', ['-port', String(epmd.port), '-address', LOOPBACK], {
      logFile: epmd.logFile,
      env: { ERL_EPMD_ADDRESS: LOOPBACK, ERL_EPMD_PORT: String(epmd.port) },
    });
    if (spawned.child.pid !== undefined) {
      await writeFile(epmd.pidFile, `${spawned.child.pid}\n`);
    }
    ctx.started.add('epmd');
  }
  await waitFor(`epmd (127.0.0.1:${epmd.port})`, async () => epmdNames(epmd.port, 1000), {
    timeoutMs: ctx.timeoutMs,
    intervalMs: 100,
    server: 'epmd',
    logFile: epmd.logFile,
    ...(spawned === undefined ? {} : { failFast: spawned.exitReason }),
  });
  ctx.progress(
    spawned === undefined
      ? `epmd: already running (pid ${pid ?? '?'})`
      : `epmd: ready in ${elapsed(startedAt)}`,
  );
}

/** Opens and closes one AMQP connection; returns the broker's product and version. */
export async function amqpProbe(url: string, timeoutMs: number): Promise<string> {
  const connection = await amqpConnect(url, { timeout: timeoutMs });
  // A probe connection lives for one round trip; an error on it is the probe's failure, which the
  // awaited close() below reports.
  connection.on('error', () => undefined);
  const props = connection.connection.serverProperties;
  await connection.close();
  return `${props.product} ${props.version}`;
}

async function ensureRabbit(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  const rabbit = layout.rabbitmq;
  const startedAt = performance.now();
  const pid = await ownedPid(rabbit);
  let spawned: Spawned | undefined;
  if (pid === undefined) {
    await checkFreePort(rabbit);
    await checkFreePort(rabbit, rabbit.distPort);
    const owner = await account(ctx.isRoot);
    await prepareFiles(rabbit, owner);
    spawned = await spawnLogged(rabbitmqScript('rabbitmq-server'), [], {
      logFile: rabbit.consoleLog,
      env: rabbitmqEnvironment(rabbit),
      cwd: rabbit.dir,
      ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
    });
    ctx.started.add('rabbitmq');
  }
  const url = `amqp://guest:guest@${LOOPBACK}:${rabbit.port}`;
  await waitFor(
    `rabbitmq (127.0.0.1:${rabbit.port})`,
    async () => ((await probePort(rabbit.port)) ? amqpProbe(url, 2000) : undefined),
    {
      timeoutMs: ctx.timeoutMs,
      intervalMs: 250,
      server: 'rabbitmq',
      logFile: rabbit.logFile,
      ...(spawned === undefined ? {} : { failFast: spawned.exitReason }),
    },
  ).catch(async (error: unknown) => {
    // Early boot failures only reach the console log.
    if (error instanceof SandboxError && spawned !== undefined) {
      error.message += `\n  console output${await logExcerpt(rabbit.consoleLog, 10)}`;
    }
    throw error;
  });
  ctx.progress(
    spawned === undefined
      ? `rabbitmq: already running (pid ${pid ?? '?'})`
      : `rabbitmq: ready in ${elapsed(startedAt)}`,
  );
}

export async function upRabbitMq(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  await ensureEpmd(layout, ctx);
  await ensureRabbit(layout, ctx);
}

/** Stops our RabbitMQ node, then our epmd, and any epmd our Erlang node started on our port. */
export async function downRabbitMq(
  layout: SandboxLayout,
  which: { readonly rabbitmq: boolean; readonly epmd: boolean },
  timeoutMs: number,
): Promise<{ rabbitmq: StopOutcome; epmd: StopOutcome }> {
  const rabbitmq = which.rabbitmq ? await stopServer(layout.rabbitmq, timeoutMs) : 'not-running';
  let epmd: StopOutcome = 'not-running';
  if (which.epmd) {
    epmd = await stopServer(layout.epmd, timeoutMs);
    for (const stray of await findEpmdPids(layout.epmd.port, layout.root)) {
      const outcome = await stopPid(stray, 5000);
      if (outcome !== 'not-running') epmd = outcome;
    }
  }
  return { rabbitmq, epmd };
}

/**
 * A full stop and start of our RabbitMQ node (every client connection drops), waiting until it
 * accepts AMQP connections again.
 */
export async function restartRabbitMq(
  info: SandboxInfo,
  options: { readonly timeoutMs?: number } = {},
): Promise<void> {
  const layout = layoutOf(info);
  await stopServer(layout.rabbitmq, STOP_TIMEOUT_MS);
  await upRabbitMq(layout, {
    timeoutMs: options.timeoutMs ?? 60_000,
    progress: () => undefined,
    started: new Set(),
    isRoot: isRootUser(),
  });
}

/** Runs `rabbitmqctl` against our node (never the machine's), returning its stdout. */
export async function rabbitmqctl(
  info: SandboxInfo,
  args: readonly string[],
  options: { readonly timeoutMs?: number } = {},
): Promise<string> {
  const layout = layoutOf(info).rabbitmq;
  const owner = await account(isRootUser());
  const { stdout } = await run(rabbitmqScript('rabbitmqctl'), ['-n', layout.nodeName, ...args], {
    env: rabbitmqEnvironment(layout),
    cwd: layout.dir,
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
  });
  return stdout;
}
