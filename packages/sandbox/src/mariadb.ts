import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gtidDistance, parseGtid } from '@switchboard/storage';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { isRootUser, STOP_TIMEOUT_MS, type StartContext } from './context.js';
import { SandboxError, SandboxErrorCode, SandboxStartError } from './errors.js';
import {
  LOOPBACK,
  PLATFORM_DATABASE,
  REPLICATION_PASSWORD,
  REPLICATION_USER,
  layoutOf,
  type MariaDbNodeLayout,
  type SandboxLayout,
} from './layout.js';
import {
  elapsed,
  killServer,
  ownedPid,
  probePort,
  run,
  spawnLogged,
  stopServer,
  waitFor,
  type Spawned,
} from './process.js';
import { checkFreePort } from './ports.js';
import type { SandboxInfo } from './types.js';

/** Small enough that three idle instances stay light. */
const MEMORY_ARGS = [
  '--innodb-buffer-pool-size=64M',
  '--innodb-log-file-size=32M',
  '--innodb-log-buffer-size=8M',
  '--key-buffer-size=8M',
  '--aria-pagecache-buffer-size=8M',
  '--performance-schema=OFF',
] as const;

/** The mariadbd command line of one node (pure; unit-tested). */
export function mariadbArgs(node: MariaDbNodeLayout, asRoot: boolean): string[] {
  const replica = node.role !== 'primary';
  return [
    '--no-defaults',
    ...(asRoot ? ['--user=root'] : []),
    `--bind-address=${LOOPBACK}`,
    `--port=${node.port}`,
    `--socket=${node.socket}`,
    `--pid-file=${node.pidFile}`,
    `--log-error=${node.logFile}`,
    `--datadir=${node.dataDir}`,
    // A starting mariadbd deletes `#sql*` files in its tmpdir: never share one.
    `--tmpdir=${node.tmpDir}`,
    `--server-id=${node.serverId}`,
    // Named explicitly: the default names derive from other options (pid file, log-basename)
    // and a renamed binlog would restart the GTID history the replicas follow.
    `--log-bin=${node.role}-bin`,
    `--relay-log=${node.role}-relay-bin`,
    '--log-slave-updates',
    '--gtid-strict-mode=1',
    '--binlog-format=ROW',
    '--skip-name-resolve',
    ...MEMORY_ARGS,
    ...(replica ? ['--read-only=1'] : []),
  ];
}

export function connectTo(port: number, timeoutMs = 2000): Promise<Connection> {
  return createConnection({
    host: LOOPBACK,
    port,
    user: 'root',
    password: '',
    connectTimeout: timeoutMs,
  });
}

async function withConnection<T>(
  port: number,
  fn: (connection: Connection) => Promise<T>,
  timeoutMs = 2000,
): Promise<T> {
  const connection = await connectTo(port, timeoutMs);
  try {
    return await fn(connection);
  } finally {
    // end() says goodbye (no "Aborted connection" in the server's log); destroy() if it cannot.
    await connection.end().catch(() => {
      connection.destroy();
    });
  }
}

async function rows(connection: Connection, sql: string, timeoutMs = 5000) {
  const [result] = await connection.query<RowDataPacket[]>({ sql, timeout: timeoutMs });
  return result;
}

const INSTALLED_MARKER = '.swb-installed';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates the node's data folder once; a half-made one (no marker) is made again. */
async function installIfNeeded(node: MariaDbNodeLayout, ctx: StartContext): Promise<void> {
  const marker = join(node.dataDir, INSTALLED_MARKER);
  if (await exists(marker)) return;
  const startedAt = performance.now();
  await rm(node.dataDir, { recursive: true, force: true });
  await mkdir(node.dataDir, { recursive: true });
  await mkdir(node.tmpDir, { recursive: true });
  try {
    await run(
      'mariadb-install-db',
      [
        '--no-defaults',
        // Without it root authenticates by unix socket only and cannot log in over TCP.
        '--auth-root-authentication-method=normal',
        `--datadir=${node.dataDir}`,
        ...(ctx.isRoot ? ['--user=root'] : []),
        '--skip-test-db',
        '--skip-name-resolve',
        `--tmpdir=${node.tmpDir}`,
        ...MEMORY_ARGS,
      ],
      { timeoutMs: ctx.timeoutMs },
    );
  } catch (error) {
    throw new SandboxStartError(
      `${node.name}: mariadb-install-db failed: ${error instanceof Error ? error.message : String(error)}`,
      { server: node.name, cause: error },
    );
  }
  await writeFile(marker, `${new Date().toISOString()}\n`);
  ctx.progress(`${node.name}: data folder created in ${elapsed(startedAt)}`);
}

/** Starts the node unless it already runs, then waits until it answers queries. */
async function ensureNode(node: MariaDbNodeLayout, ctx: StartContext): Promise<void> {
  const startedAt = performance.now();
  const pid = await ownedPid(node);
  let spawned: Spawned | undefined;
  if (pid === undefined) {
    await checkFreePort(node);
    await mkdir(node.tmpDir, { recursive: true });
    spawned = await spawnLogged('mariadbd', mariadbArgs(node, ctx.isRoot), {
      logFile: node.logFile,
    });
    ctx.started.add(node.name);
  }
  await waitFor(
    `${node.name} (127.0.0.1:${node.port})`,
    () => withConnection(node.port, async (c) => (await rows(c, 'SELECT 1 AS ok')).length),
    {
      timeoutMs: ctx.timeoutMs,
      server: node.name,
      logFile: node.logFile,
      ...(spawned === undefined ? {} : { failFast: spawned.exitReason }),
    },
  );
  ctx.progress(
    spawned === undefined
      ? `${node.name}: already running (pid ${pid ?? '?'})`
      : `${node.name}: accepting connections in ${elapsed(startedAt)}`,
  );
}

async function configurePrimary(layout: SandboxLayout): Promise<void> {
  await withConnection(layout.mariadb.primary.port, async (c) => {
    // Not binlogged: replicas never see it, and gtid-strict-mode stays happy.
    await c.query('SET SESSION sql_log_bin = 0');
    await c.query(`CREATE USER IF NOT EXISTS ?@'127.0.0.1' IDENTIFIED BY ?`, [
      REPLICATION_USER,
      REPLICATION_PASSWORD,
    ]);
    await c.query(`GRANT REPLICATION SLAVE ON *.* TO ?@'127.0.0.1'`, [REPLICATION_USER]);
  });
}

/** The SHOW SLAVE STATUS columns the sandbox reads. */
interface SlaveStatus {
  readonly Slave_IO_Running?: string;
  readonly Slave_SQL_Running?: string;
  readonly Last_IO_Error?: string;
  readonly Last_SQL_Error?: string;
  readonly Seconds_Behind_Master?: number | null;
  readonly Master_Port?: number;
}

async function slaveStatus(connection: Connection): Promise<SlaveStatus | undefined> {
  const [row] = await rows(connection, 'SHOW SLAVE STATUS');
  return row as SlaveStatus | undefined;
}

function describeReplication(status: SlaveStatus): string {
  const parts = [`IO ${status.Slave_IO_Running ?? '?'}`, `SQL ${status.Slave_SQL_Running ?? '?'}`];
  const ioError = status.Last_IO_Error ?? '';
  const sqlError = status.Last_SQL_Error ?? '';
  if (ioError !== '') parts.push(`IO error: ${ioError}`);
  if (sqlError !== '') parts.push(`SQL error: ${sqlError}`);
  return parts.join(', ');
}

function changeMasterSql(layout: SandboxLayout): string {
  return (
    `CHANGE MASTER TO MASTER_HOST='${LOOPBACK}', MASTER_PORT=${layout.mariadb.primary.port}, ` +
    `MASTER_USER='${REPLICATION_USER}', MASTER_PASSWORD='${REPLICATION_PASSWORD}', ` +
    'MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1'
  );
}

/** Points the replica at the primary (once) and makes sure both threads run. */
async function configureReplica(layout: SandboxLayout, replica: MariaDbNodeLayout): Promise<void> {
  await withConnection(replica.port, async (c) => {
    // Local changes on a replica must stay out of its binlog, or gtid-strict-mode rejects
    // replicated events later.
    await c.query('SET SESSION sql_log_bin = 0');
    const status = await slaveStatus(c);
    if (status === undefined || status.Master_Port !== layout.mariadb.primary.port) {
      if (status !== undefined) await c.query('STOP SLAVE');
      await c.query(changeMasterSql(layout));
      await c.query('START SLAVE');
    } else if (status.Slave_IO_Running === 'No' || status.Slave_SQL_Running === 'No') {
      await c.query('START SLAVE');
    }
  });
}

async function waitReplicating(replica: MariaDbNodeLayout, timeoutMs: number): Promise<void> {
  await waitFor(
    `${replica.name} replication`,
    () =>
      withConnection(replica.port, async (c) => {
        const status = await slaveStatus(c);
        if (status === undefined) throw new Error('no replication configured');
        if (status.Slave_IO_Running === 'Yes' && status.Slave_SQL_Running === 'Yes') return true;
        throw new Error(describeReplication(status));
      }),
    { timeoutMs, server: replica.name, logFile: replica.logFile },
  );
}

/**
 * Brings up the primary and the replicas: every data folder is created before any server starts
 * (concurrently), then the servers start together, then replication is configured.
 */
export async function upMariaDb(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  const { primary, replicas } = layout.mariadb;
  const nodes = [primary, ...replicas];
  await Promise.all(nodes.map((node) => installIfNeeded(node, ctx)));
  await Promise.all(nodes.map((node) => ensureNode(node, ctx)));
  await configurePrimary(layout);
  await Promise.all(
    replicas.map(async (replica) => {
      const startedAt = performance.now();
      await configureReplica(layout, replica);
      await waitReplicating(replica, ctx.timeoutMs);
      ctx.progress(`${replica.name}: replicating from the primary (${elapsed(startedAt)})`);
    }),
  );
  await createPlatformDatabase(layout);
}

/**
 * The database `npm start`'s daemons and migrations use. Created through the binlog, after the
 * replicas replicate, so it exists on every node.
 */
async function createPlatformDatabase(layout: SandboxLayout): Promise<void> {
  await withConnection(layout.mariadb.primary.port, async (c) => {
    const [found] = await c.query<RowDataPacket[]>('SHOW DATABASES LIKE ?', [PLATFORM_DATABASE]);
    if (found.length === 0) await c.query(`CREATE DATABASE \`${PLATFORM_DATABASE}\``);
  });
}

/** A real protocol check: a query, and for a replica both replication threads. */
export async function mariadbHealth(
  layout: SandboxLayout,
  node: MariaDbNodeLayout,
  timeoutMs: number,
): Promise<string> {
  return withConnection(
    node.port,
    async (c) => {
      const [row] = await rows(c, 'SELECT @@version AS v, @@gtid_binlog_pos AS g', timeoutMs);
      const version = String(row?.v ?? '?').split('-')[0] ?? '?';
      if (node.role === 'primary') return `MariaDB ${version}, gtid ${String(row?.g) || '-'}`;
      const status = await slaveStatus(c);
      if (status === undefined) throw new Error('replication not configured');
      if (status.Slave_IO_Running !== 'Yes' || status.Slave_SQL_Running !== 'Yes') {
        throw new Error(`replication stopped (${describeReplication(status)})`);
      }
      const lag = await replicaLagOf(layout, c);
      const seconds = status.Seconds_Behind_Master;
      return `replicating, ${lag.transactions} tx / ${seconds ?? '?'} s behind`;
    },
    timeoutMs,
  );
}

// ---------------------------------------------------------------------------------------------
// Fault helpers

function replicaAt(info: SandboxInfo, index: number): MariaDbNodeLayout {
  const replica = layoutOf(info).mariadb.replicas[index];
  if (replica === undefined || !Number.isInteger(index)) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `replica index must be 0 to ${layoutOf(info).mariadb.replicas.length - 1}; got ${index}`,
    );
  }
  return replica;
}

/** Options of the fault helpers. */
export interface FaultOptions {
  /** Bound on waiting for the effect; defaults differ per helper. */
  readonly timeoutMs?: number;
}

/** Stops replica `index` (0-based into `info.mariadb.replicas`): the server process, gracefully. */
export async function stopReplica(
  info: SandboxInfo,
  index: number,
  options: FaultOptions = {},
): Promise<void> {
  const replica = replicaAt(info, index);
  await stopServer(replica, options.timeoutMs ?? STOP_TIMEOUT_MS);
  if (await probePort(replica.port)) {
    throw new SandboxError(
      SandboxErrorCode.timeout,
      `${replica.name}: port ${replica.port} still answers after stopping`,
      { server: replica.name, retryable: true },
    );
  }
}

/**
 * Kills replica `index` with SIGKILL (a crash: clients see their connections reset, not a
 * shutdown message). `startReplica` brings it back; GTID replication resumes from
 * `gtid_slave_pos`, which InnoDB keeps crash-safe.
 */
export async function killReplica(info: SandboxInfo, index: number): Promise<void> {
  const replica = replicaAt(info, index);
  await killServer(replica);
  await rm(replica.pidFile, { force: true });
}

/** Starts replica `index` again and waits until it replicates. */
export async function startReplica(
  info: SandboxInfo,
  index: number,
  options: FaultOptions = {},
): Promise<void> {
  const layout = layoutOf(info);
  const replica = replicaAt(info, index);
  const ctx: StartContext = {
    timeoutMs: options.timeoutMs ?? 30_000,
    progress: () => undefined,
    started: new Set(),
    isRoot: isRootUser(),
  };
  await ensureNode(replica, ctx);
  await configureReplica(layout, replica);
  await waitReplicating(replica, ctx.timeoutMs);
}

/**
 * Stops the primary (gracefully, as `stopReplica` does a replica). Writes then fail; the
 * replicas keep serving reads and retry the primary every second (MASTER_CONNECT_RETRY=1).
 */
export async function stopPrimary(info: SandboxInfo, options: FaultOptions = {}): Promise<void> {
  const primary = layoutOf(info).mariadb.primary;
  await stopServer(primary, options.timeoutMs ?? STOP_TIMEOUT_MS);
  if (await probePort(primary.port)) {
    throw new SandboxError(
      SandboxErrorCode.timeout,
      `${primary.name}: port ${primary.port} still answers after stopping`,
      { server: primary.name, retryable: true },
    );
  }
}

/** Starts the primary again and waits until every replica has reconnected to it. */
export async function startPrimary(info: SandboxInfo, options: FaultOptions = {}): Promise<void> {
  const layout = layoutOf(info);
  const ctx: StartContext = {
    timeoutMs: options.timeoutMs ?? 30_000,
    progress: () => undefined,
    started: new Set(),
    isRoot: isRootUser(),
  };
  await ensureNode(layout.mariadb.primary, ctx);
  await Promise.all(
    layout.mariadb.replicas.map(async (replica) => {
      await configureReplica(layout, replica);
      await waitReplicating(replica, ctx.timeoutMs);
    }),
  );
}

async function waitSqlThread(
  replica: MariaDbNodeLayout,
  want: 'Yes' | 'No',
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `${replica.name} SQL thread ${want === 'Yes' ? 'running' : 'stopped'}`,
    () =>
      withConnection(replica.port, async (c) => {
        const status = await slaveStatus(c);
        return status?.Slave_SQL_Running === want ? true : undefined;
      }),
    { timeoutMs, server: replica.name, logFile: replica.logFile },
  );
}

/** STOP SLAVE SQL_THREAD: events still arrive (IO thread) but are not applied. */
export async function pauseReplicaSqlThread(
  info: SandboxInfo,
  index: number,
  options: FaultOptions = {},
): Promise<void> {
  const replica = replicaAt(info, index);
  await withConnection(replica.port, (c) => c.query('STOP SLAVE SQL_THREAD'));
  await waitSqlThread(replica, 'No', options.timeoutMs ?? 10_000);
}

/** START SLAVE SQL_THREAD. */
export async function resumeReplicaSqlThread(
  info: SandboxInfo,
  index: number,
  options: FaultOptions = {},
): Promise<void> {
  const replica = replicaAt(info, index);
  await withConnection(replica.port, (c) => c.query('START SLAVE SQL_THREAD'));
  await waitSqlThread(replica, 'Yes', options.timeoutMs ?? 10_000);
}

/** Delays replica `index` by `seconds` (MASTER_DELAY); 0 clears it. */
export async function setReplicaDelay(
  info: SandboxInfo,
  index: number,
  seconds: number,
  options: FaultOptions = {},
): Promise<void> {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `delay must be a whole number of seconds ≥ 0; got ${seconds}`,
    );
  }
  const replica = replicaAt(info, index);
  await withConnection(replica.port, async (c) => {
    await c.query('SET SESSION sql_log_bin = 0');
    await c.query('STOP SLAVE');
    await c.query(`CHANGE MASTER TO MASTER_DELAY=${seconds}`);
    await c.query('START SLAVE');
  });
  await waitReplicating(replica, options.timeoutMs ?? 10_000);
}

/** How far a replica is behind the primary, read from GTID positions. */
export interface ReplicaLag {
  /** `@@gtid_binlog_pos` on the primary, e.g. `0-1-42`. */
  readonly primaryPosition: string;
  /** `@@gtid_slave_pos` on the replica. */
  readonly replicaPosition: string;
  /** Transactions the primary has logged that the replica has not applied. */
  readonly transactions: number;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  /** Seconds_Behind_Master; null while the SQL thread is stopped. */
  readonly secondsBehind: number | null;
}

/** Transactions in `primary` that `replica` has not reached, summed over GTID domains. */
export function gtidLag(primary: string, replica: string): number {
  return gtidDistance(parseGtid(primary), parseGtid(replica));
}

async function replicaLagOf(
  layout: SandboxLayout,
  replicaConnection: Connection,
): Promise<ReplicaLag> {
  const primaryPosition = await withConnection(layout.mariadb.primary.port, async (c) =>
    String((await rows(c, 'SELECT @@gtid_binlog_pos AS p'))[0]?.p ?? ''),
  );
  const replicaPosition = String(
    (await rows(replicaConnection, 'SELECT @@gtid_slave_pos AS p'))[0]?.p ?? '',
  );
  const status: SlaveStatus = (await slaveStatus(replicaConnection)) ?? {};
  const seconds = status.Seconds_Behind_Master;
  return {
    primaryPosition,
    replicaPosition,
    transactions: gtidLag(primaryPosition, replicaPosition),
    ioRunning: status.Slave_IO_Running === 'Yes',
    sqlRunning: status.Slave_SQL_Running === 'Yes',
    secondsBehind: seconds ?? null,
  };
}

/**
 * Compares `@@gtid_binlog_pos` on the primary with `@@gtid_slave_pos` on replica `index`
 * (Seconds_Behind_Master is NULL while the SQL thread is stopped, so it cannot measure a pause).
 */
export async function replicaGtidLag(info: SandboxInfo, index: number): Promise<ReplicaLag> {
  const replica = replicaAt(info, index);
  return withConnection(replica.port, (c) => replicaLagOf(layoutOf(info), c));
}

/** Waits until replica `index` has applied everything the primary has logged. */
export async function waitForReplicaCatchUp(
  info: SandboxInfo,
  index: number,
  options: FaultOptions = {},
): Promise<void> {
  const replica = replicaAt(info, index);
  await waitFor(
    `${replica.name} catching up`,
    async () => ((await replicaGtidLag(info, index)).transactions === 0 ? true : undefined),
    { timeoutMs: options.timeoutMs ?? 15_000, server: replica.name, logFile: replica.logFile },
  );
}
