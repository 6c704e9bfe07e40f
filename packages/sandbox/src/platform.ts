import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOOPBACK, PORT_OFFSETS } from './layout.js';
import type { SandboxInfo } from './types.js';

/** One daemon `npm start` runs. A second controller is one more row. */
export interface DaemonSpec {
  /** Names the daemon in output and its log file, `<root>/logs/<name>.log`. */
  readonly name: string;
  /** The workspace package whose `dist/main.js` is the daemon, e.g. `controller`. */
  readonly packageName: string;
  /** SWB_NODE_ID. */
  readonly nodeId: string;
  /** Its ops endpoint (readyz, healthz, metrics) listens on port base + this. */
  readonly opsPortOffset: number;
  /** Variables only this daemon needs, under the sandbox folder (e.g. the worker's spool). */
  readonly env?: (info: SandboxInfo) => Record<string, string>;
}

/** The controllers' management API ports: base + 55 and base + 56. */
export const CONTROLLER_API_OFFSETS = [PORT_OFFSETS.daemons + 5, PORT_OFFSETS.daemons + 6] as const;

/** The management API URLs of the sandbox's controllers. */
export function controllerUrls(info: Pick<SandboxInfo, 'portBase'>): string[] {
  return CONTROLLER_API_OFFSETS.map((offset) => `http://${LOOPBACK}:${info.portBase + offset}`);
}

function controllerSpec(index: 0 | 1): DaemonSpec {
  return {
    name: `controller-${index + 1}`,
    packageName: 'controller',
    nodeId: `controller-${index + 1}`,
    opsPortOffset: PORT_OFFSETS.daemons + index,
    env: (info) => ({
      SWB_API_HOST: LOOPBACK,
      SWB_API_PORT: String(info.portBase + CONTROLLER_API_OFFSETS[index]),
    }),
  };
}

/** The daemons of the platform, in start order: two controllers (both serve; one leads). */
export const DAEMONS: readonly DaemonSpec[] = [
  controllerSpec(0),
  controllerSpec(1),
  {
    name: 'queue',
    packageName: 'queue',
    nodeId: 'queue-1',
    opsPortOffset: PORT_OFFSETS.daemons + 2,
  },
  {
    name: 'worker',
    packageName: 'worker',
    nodeId: 'worker-1',
    opsPortOffset: PORT_OFFSETS.daemons + 3,
    // Where PBX nodes would drop recordings for blob.ingest; the worker creates it on start.
    env: (info) => ({ SWB_SPOOL_DIR: join(info.root, 'spool') }),
  },
  {
    name: 'sip-edge',
    packageName: 'sip-edge',
    nodeId: 'sip-edge-1',
    opsPortOffset: PORT_OFFSETS.daemons + 4,
  },
];

export function daemonOpsPort(info: Pick<SandboxInfo, 'portBase'>, daemon: DaemonSpec): number {
  return info.portBase + daemon.opsPortOffset;
}

/** `packages/<package>/dist/main.js` under the checkout. */
export function daemonEntry(repoRoot: string, daemon: DaemonSpec): string {
  return join(repoRoot, 'packages', daemon.packageName, 'dist', 'main.js');
}

export function daemonLogFile(info: Pick<SandboxInfo, 'root'>, daemon: DaemonSpec): string {
  return join(info.root, 'logs', `${daemon.name}.log`);
}

/**
 * The platform's secrets under `npm start`: the controllers' admin token (operators) and join
 * token (nodes), and the SIP edges' shared digest-nonce key.
 */
export interface SandboxSecrets {
  readonly adminToken: string;
  readonly joinToken: string;
  readonly sipNonceSecret: string;
}

/** Where the sandbox keeps them (mode 0600). */
export function sandboxSecretsFile(info: Pick<SandboxInfo, 'root'>): string {
  return join(info.root, 'secrets.json');
}

/**
 * The sandbox's secrets, made (random, 32 bytes each) the first time and kept in the sandbox
 * folder, so the dashboard link and the CLI keep working across restarts. A secret missing from
 * an older file is added.
 */
export function ensureSandboxSecrets(info: Pick<SandboxInfo, 'root'>): SandboxSecrets {
  const file = sandboxSecretsFile(info);
  const stored: Partial<Record<keyof SandboxSecrets, unknown>> = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<keyof SandboxSecrets, unknown>>)
    : {};
  const fresh = (value: unknown): string =>
    typeof value === 'string' && value.length >= 16 ? value : randomBytes(32).toString('base64url');
  const secrets: SandboxSecrets = {
    adminToken: fresh(stored.adminToken),
    joinToken: fresh(stored.joinToken),
    sipNonceSecret: fresh(stored.sipNonceSecret),
  };
  if (JSON.stringify(secrets) !== JSON.stringify(stored)) {
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
}

/**
 * The environment a daemon gets from the sandbox (pure). The daemons' config schemas map a
 * camelCase path to SWB_ + UPPER_SNAKE (`sql.primary` → `SWB_SQL_PRIMARY`). Controllers get both
 * tokens; every other daemon the join token and the controllers' URLs, to register itself.
 */
export function daemonDefaults(
  info: SandboxInfo,
  daemon: DaemonSpec,
  tokens: SandboxSecrets,
): Record<string, string> {
  const controller =
    daemon.packageName === 'controller'
      ? { SWB_API_ADMIN_TOKEN: tokens.adminToken, SWB_API_JOIN_TOKEN: tokens.joinToken }
      : {
          SWB_CONTROLLER_URLS: controllerUrls(info).join(','),
          SWB_CONTROLLER_JOIN_TOKEN: tokens.joinToken,
        };
  // Ready for the day the user points the edge at a drachtio-server (SWB_DRACHTIO_HOST).
  const sip =
    daemon.packageName === 'sip-edge' ? { SWB_AUTH_NONCE_SECRET: tokens.sipNonceSecret } : {};
  return {
    SWB_NODE_ID: daemon.nodeId,
    SWB_LOG_LEVEL: 'info',
    SWB_OPS_HOST: LOOPBACK,
    SWB_OPS_PORT: String(daemonOpsPort(info, daemon)),
    ...platformDefaults(info),
    ...controller,
    ...sip,
    ...daemon.env?.(info),
  };
}

/** The servers' addresses every process of the platform shares (daemons, migrations). */
export function platformDefaults(info: SandboxInfo): Record<string, string> {
  return {
    SWB_SQL_PRIMARY: `${info.mariadb.primary.uri}/${info.mariadb.database}`,
    SWB_SQL_REPLICAS: info.mariadb.replicas
      .map((r) => `${r.uri}/${info.mariadb.database}`)
      .join(','),
    SWB_REDIS_URL: info.redis.url,
    SWB_KV_NODES: info.redisCluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
    SWB_AMQP_URLS: info.rabbitmq.url,
    SWB_BLOB_DRIVER: 'posix',
    SWB_BLOB_ROOT: join(info.root, 'blobs'),
    SWB_BLOB_S3_ENDPOINT: info.s3.endpoint,
    SWB_BLOB_S3_REGION: info.s3.region,
    SWB_BLOB_S3_BUCKET: info.s3.bucket,
    SWB_BLOB_S3_ACCESS_KEY_ID: info.s3.accessKeyId,
    SWB_BLOB_S3_SECRET_ACCESS_KEY: info.s3.secretAccessKey,
  };
}

/**
 * The daemon's whole environment: the sandbox's defaults under the user's own environment, so a
 * user who exports SWB_SQL_PRIMARY (say) runs the same daemons against an external server.
 */
export function daemonEnvironment(
  info: SandboxInfo,
  daemon: DaemonSpec,
  userEnv: Readonly<Record<string, string | undefined>>,
  tokens: SandboxSecrets,
): Record<string, string> {
  return underUser(daemonDefaults(info, daemon, tokens), userEnv);
}

/** The environment of `npm run migrate` under `npm start`, by the same rule as the daemons'. */
export function migrateEnvironment(
  info: SandboxInfo,
  userEnv: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  return underUser(platformDefaults(info), userEnv);
}

/** The schema migrations' command (storage's `switchboard-migrate`), relative to the checkout. */
export const MIGRATE_ENTRY = 'packages/storage/dist/cli.js';

function underUser(
  defaults: Record<string, string>,
  userEnv: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const env = { ...defaults };
  for (const [key, value] of Object.entries(userEnv)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}
