import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxError, SandboxErrorCode } from './errors.js';
import type { SandboxInfo } from './types.js';

/** First port of the sandbox's range unless told otherwise. */
export const DEFAULT_PORT_BASE = 17400;

/** Offsets from the port base. The Redis Cluster bus adds 10000 to each node's port. */
export const PORT_OFFSETS = {
  mariadbPrimary: 0,
  mariadbReplicas: [1, 2],
  redis: 10,
  redisCluster: [20, 21, 22, 23, 24, 25],
  rabbitmqAmqp: 30,
  rabbitmqDist: 31,
  epmd: 32,
  /** Ports `rabbitmqctl`'s own short-lived Erlang node may listen on. */
  rabbitmqCtlDist: [33, 39],
  s3: 40,
  /** Daemons under `npm start` take base+50 upwards (see platform.ts). */
  daemons: 50,
  /** The last offset the range uses, daemons included. */
  last: 59,
} as const;

/** The bus port of a Redis Cluster node is its port + this. */
export const CLUSTER_BUS_OFFSET = 10000;

/** Every port stays below the Linux ephemeral range (32768–60999). */
const EPHEMERAL_START = 32768;

export const SERVER_NAMES = [
  'mariadb-primary',
  'mariadb-replica-1',
  'mariadb-replica-2',
  'redis',
  'redis-cluster-1',
  'redis-cluster-2',
  'redis-cluster-3',
  'redis-cluster-4',
  'redis-cluster-5',
  'redis-cluster-6',
  'epmd',
  'rabbitmq',
  's3',
] as const;

/** One process the sandbox runs. */
export type ServerName = (typeof SERVER_NAMES)[number];

export const LOOPBACK = '127.0.0.1';
export const CLUSTER_NODE_TIMEOUT_MS = 2000;
export const RABBITMQ_NODE_NAME = 'swb-sandbox@localhost';
export const REPLICATION_USER = 'repl';
export const REPLICATION_PASSWORD = 'repl';
export const S3_BUCKET = 'switchboard';
/** The database `npm start`'s daemons and migrations use; tests make schemas of their own. */
export const PLATFORM_DATABASE = 'switchboard';
/** s3rver's fixed credentials. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Where a server keeps its pid file and log, and the port it answers on. */
export interface ServerPaths {
  readonly name: ServerName;
  readonly port: number;
  readonly pidFile: string;
  readonly logFile: string;
  /** A string the process's command line contains, so a stale pid file never hits a stranger. */
  readonly command: string;
}

export interface MariaDbNodeLayout extends ServerPaths {
  /** `primary`, `replica-1`, `replica-2`. */
  readonly role: string;
  readonly serverId: number;
  readonly dataDir: string;
  readonly tmpDir: string;
  readonly socket: string;
}

export interface RedisNodeLayout extends ServerPaths {
  readonly dir: string;
}

export interface RabbitMqLayout extends ServerPaths {
  readonly nodeName: string;
  readonly distPort: number;
  readonly ctlDistPortMin: number;
  readonly ctlDistPortMax: number;
  readonly epmdPort: number;
  /** Everything RabbitMQ writes lives here, owned by the `rabbitmq` user when we are root. */
  readonly dir: string;
  readonly home: string;
  readonly mnesiaBase: string;
  readonly logBase: string;
  readonly configFile: string;
  readonly configDir: string;
  readonly advancedConfigFile: string;
  readonly envFile: string;
  readonly enabledPluginsFile: string;
  /** The start script's stdout and stderr (early boot errors land here). */
  readonly consoleLog: string;
}

export interface S3Layout extends ServerPaths {
  readonly dataDir: string;
}

/** Every path and port of one sandbox: a pure function of its folder and port base. */
export interface SandboxLayout {
  readonly root: string;
  readonly portBase: number;
  readonly infoFile: string;
  readonly markerFile: string;
  readonly lockFile: string;
  readonly logsDir: string;
  readonly runDir: string;
  readonly blobsDir: string;
  readonly mariadb: {
    readonly primary: MariaDbNodeLayout;
    readonly replicas: readonly MariaDbNodeLayout[];
  };
  readonly redis: RedisNodeLayout;
  readonly redisCluster: readonly RedisNodeLayout[];
  readonly epmd: ServerPaths;
  readonly rabbitmq: RabbitMqLayout;
  readonly s3: S3Layout;
}

/** The checkout's `.sandbox` folder, found from this file's own location. */
export function defaultSandboxRoot(): string {
  // src/layout.ts and dist/layout.js both sit two levels below the checkout.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.sandbox');
}

/** The checkout this package belongs to. */
export function repositoryRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** Throws unless the port base keeps every port (cluster bus included) in 1024–32767. */
export function validatePortBase(portBase: number): void {
  const highest = portBase + PORT_OFFSETS.redisCluster[5] + CLUSTER_BUS_OFFSET;
  if (!Number.isInteger(portBase) || portBase < 1024 || highest >= EPHEMERAL_START) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `portBase must be an integer from 1024 to ${EPHEMERAL_START - 1 - PORT_OFFSETS.redisCluster[5] - CLUSTER_BUS_OFFSET} ` +
        `(so the Redis Cluster bus ports stay below ${EPHEMERAL_START}); got ${portBase}`,
    );
  }
}

/**
 * A Unix socket path must fit in `sun_path` (108 bytes). A deep checkout gets its sockets under
 * the system's temporary folder instead, named after the data folder so sandboxes never share one.
 */
export function socketPath(preferred: string, root: string, port: number, tmp = tmpdir()): string {
  if (Buffer.byteLength(preferred) <= 100) return preferred;
  const tag = createHash('sha256').update(root).digest('hex').slice(0, 8);
  return join(tmp, `swb-${tag}-${port}.sock`);
}

export function sandboxLayout(root: string, portBase: number): SandboxLayout {
  if (!isAbsolute(root)) {
    throw new SandboxError(SandboxErrorCode.badOption, `root must be absolute; got ${root}`);
  }
  validatePortBase(portBase);
  const logsDir = join(root, 'logs');
  const runDir = join(root, 'run');
  const paths = (name: ServerName, offset: number, command: string): ServerPaths => ({
    name,
    port: portBase + offset,
    pidFile: join(runDir, `${name}.pid`),
    logFile: join(logsDir, `${name}.log`),
    command,
  });

  const mariaNode = (name: ServerName, role: string, offset: number): MariaDbNodeLayout => {
    const dir = join(root, 'mariadb', role);
    const port = portBase + offset;
    return {
      ...paths(name, offset, 'mariadbd'),
      role,
      serverId: offset + 1,
      dataDir: join(dir, 'data'),
      tmpDir: join(dir, 'tmp'),
      socket: socketPath(join(runDir, `${name}.sock`), root, port),
    };
  };

  const clusterNodes = PORT_OFFSETS.redisCluster.map((offset, i) => {
    const name = `redis-cluster-${i + 1}` as ServerName;
    return { ...paths(name, offset, 'redis-server'), dir: join(root, 'redis-cluster', `${i + 1}`) };
  });

  const rabbitDir = join(root, 'rabbitmq');
  const rabbitmq: RabbitMqLayout = {
    name: 'rabbitmq',
    port: portBase + PORT_OFFSETS.rabbitmqAmqp,
    // RabbitMQ writes (and on stop deletes) its own pid file, so it must sit in a folder it owns;
    // rabbitmqctl needs it absolute.
    pidFile: join(rabbitDir, 'rabbitmq.pid'),
    logFile: join(rabbitDir, 'log', 'rabbitmq.log'),
    command: 'beam',
    nodeName: RABBITMQ_NODE_NAME,
    distPort: portBase + PORT_OFFSETS.rabbitmqDist,
    ctlDistPortMin: portBase + PORT_OFFSETS.rabbitmqCtlDist[0],
    ctlDistPortMax: portBase + PORT_OFFSETS.rabbitmqCtlDist[1],
    epmdPort: portBase + PORT_OFFSETS.epmd,
    dir: rabbitDir,
    home: join(rabbitDir, 'home'),
    mnesiaBase: join(rabbitDir, 'mnesia'),
    logBase: join(rabbitDir, 'log'),
    configFile: join(rabbitDir, 'rabbitmq.conf'),
    configDir: join(rabbitDir, 'conf.d'),
    advancedConfigFile: join(rabbitDir, 'advanced.config'),
    envFile: join(rabbitDir, 'rabbitmq-env.conf'),
    enabledPluginsFile: join(rabbitDir, 'enabled_plugins'),
    consoleLog: join(logsDir, 'rabbitmq-console.log'),
  };

  return {
    root,
    portBase,
    infoFile: join(root, 'sandbox.json'),
    markerFile: join(root, '.swb-sandbox'),
    lockFile: join(runDir, 'sandbox.lock'),
    logsDir,
    runDir,
    blobsDir: join(root, 'blobs'),
    mariadb: {
      primary: mariaNode('mariadb-primary', 'primary', PORT_OFFSETS.mariadbPrimary),
      replicas: [
        mariaNode('mariadb-replica-1', 'replica-1', PORT_OFFSETS.mariadbReplicas[0]),
        mariaNode('mariadb-replica-2', 'replica-2', PORT_OFFSETS.mariadbReplicas[1]),
      ],
    },
    redis: { ...paths('redis', PORT_OFFSETS.redis, 'redis-server'), dir: join(root, 'redis') },
    redisCluster: clusterNodes,
    epmd: paths('epmd', PORT_OFFSETS.epmd, 'epmd'),
    rabbitmq,
    s3: { ...paths('s3', PORT_OFFSETS.s3, 's3-server'), dataDir: join(root, 's3') },
  };
}

/** Every server of a layout, in a stable order (the order of `SERVER_NAMES`). */
export function allServers(layout: SandboxLayout): readonly ServerPaths[] {
  return [
    layout.mariadb.primary,
    ...layout.mariadb.replicas,
    layout.redis,
    ...layout.redisCluster,
    layout.epmd,
    layout.rabbitmq,
    layout.s3,
  ];
}

/** What clients need to reach the servers of a layout. */
export function infoFromLayout(layout: SandboxLayout): SandboxInfo {
  const user = 'root';
  const sqlNode = (node: MariaDbNodeLayout) => ({
    name: node.role,
    host: LOOPBACK,
    port: node.port,
    uri: `mysql://${user}@${LOOPBACK}:${node.port}`,
  });
  return {
    root: layout.root,
    portBase: layout.portBase,
    mariadb: {
      user,
      password: '',
      database: PLATFORM_DATABASE,
      primary: sqlNode(layout.mariadb.primary),
      replicas: layout.mariadb.replicas.map(sqlNode),
    },
    redis: {
      host: LOOPBACK,
      port: layout.redis.port,
      url: `redis://${LOOPBACK}:${layout.redis.port}`,
    },
    redisCluster: {
      nodes: layout.redisCluster.map((n) => ({ host: LOOPBACK, port: n.port })),
      nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS,
    },
    rabbitmq: {
      host: LOOPBACK,
      port: layout.rabbitmq.port,
      url: `amqp://guest:guest@${LOOPBACK}:${layout.rabbitmq.port}`,
      nodeName: layout.rabbitmq.nodeName,
    },
    s3: {
      endpoint: `http://${LOOPBACK}:${layout.s3.port}`,
      region: 'us-east-1',
      ...S3_CREDENTIALS,
      forcePathStyle: true,
      bucket: S3_BUCKET,
    },
  };
}

/** The layout behind a `SandboxInfo` (fault helpers get the info, not the layout). */
export function layoutOf(info: Pick<SandboxInfo, 'root' | 'portBase'>): SandboxLayout {
  return sandboxLayout(info.root, info.portBase);
}
