// docker-compose.yml, checked without a Docker engine: compose v1's `config` (installed by
// `npm run setup`) must accept the file, and each role service's environment, as compose
// interpolates it, must load as that daemon's configuration through the daemon's own schema.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controllerConfigSchema } from '@switchboard/controller';
import { queueConfigSchema, queueRequiredWhen } from '@switchboard/queue';
import {
  ConfigError,
  Secret,
  describeConfig,
  loadConfig,
  tryParseHostPort,
  tryUriHostPort,
  type RequiredWhen,
  type TObject,
} from '@switchboard/runtime';
import { sipEdgeConfigSchema, sipEdgeRequiredWhen } from '@switchboard/sip-edge';
import { migrateConfigSchema } from '@switchboard/storage';
import { workerConfigSchema, workerRequiredWhen } from '@switchboard/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const composeFile = join(root, 'docker-compose.yml');

/** Each role the image runs as a service, with the configuration its entry point loads. */
interface Role {
  readonly schema: TObject;
  readonly requiredWhen: readonly RequiredWhen[];
  /** A long-running daemon (ops endpoint, healthcheck), not a one-shot command. */
  readonly daemon: boolean;
}

const roles: Readonly<Record<string, Role>> = {
  controller: { schema: controllerConfigSchema, requiredWhen: [], daemon: true },
  queue: { schema: queueConfigSchema, requiredWhen: queueRequiredWhen, daemon: true },
  worker: { schema: workerConfigSchema, requiredWhen: workerRequiredWhen, daemon: true },
  'sip-edge': { schema: sipEdgeConfigSchema, requiredWhen: sipEdgeRequiredWhen, daemon: true },
  migrate: { schema: migrateConfigSchema, requiredWhen: [], daemon: false },
};

const roleServices = [
  'migrate',
  'controller-1',
  'controller-2',
  'queue',
  'worker-1',
  'worker-2',
  'sip-edge',
];

const image = 'switchboard:latest';
const daemonHealthcheck = ['CMD', 'node', '/app/docker/healthcheck.mjs'];

interface Port {
  readonly hostIp: string;
  readonly published: string;
  readonly target: string;
}

/** One service of the normalized file, the parts these tests read. */
interface Service {
  readonly name: string;
  readonly image?: string;
  readonly hostname?: string;
  readonly restart?: string;
  readonly command: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  /** Target service → condition. */
  readonly dependsOn: Readonly<Record<string, string>>;
  readonly healthcheck?: readonly string[];
  readonly stopGracePeriodMs?: number;
  readonly volumes: readonly { readonly source: string; readonly target: string }[];
  readonly ports: readonly Port[];
}

interface ComposeFile {
  readonly services: ReadonlyMap<string, Service>;
  readonly volumes: ReadonlySet<string>;
}

type Json = Readonly<Record<string, unknown>>;

function mapping(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${what}: expected a mapping`);
  }
  return value as Json;
}

function list(value: unknown, what: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`${what}: expected a list`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TypeError(`${what}: expected a scalar`);
}

function optionalText(value: unknown, what: string): string | undefined {
  return value === undefined || value === null ? undefined : text(value, what);
}

/** compose durations as `config` prints them: `20s`, `1m30s`, `500ms`. */
function durationMs(value: string): number {
  const units: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(amount) * (units[unit ?? ''] ?? Number.NaN);
  }
  return total;
}

function parsePort(value: unknown, what: string): Port {
  if (typeof value === 'string') {
    // `[host_ip:]published:target[/protocol]`
    const parts = value.replace(/\/\w+$/, '').split(':');
    const target = parts.pop() ?? '';
    const published = parts.pop() ?? '';
    return { hostIp: parts.join(':'), published, target };
  }
  const port = mapping(value, what);
  return {
    hostIp: optionalText(port.host_ip, `${what}.host_ip`) ?? '',
    published: optionalText(port.published, `${what}.published`) ?? '',
    target: text(port.target, `${what}.target`),
  };
}

function parseService(name: string, value: unknown): Service {
  const raw = mapping(value, name);
  const environment = mapping(raw.environment ?? {}, `${name}.environment`);
  const dependsOn = mapping(raw.depends_on ?? {}, `${name}.depends_on`);
  const healthcheck =
    raw.healthcheck === undefined ? undefined : mapping(raw.healthcheck, `${name}.healthcheck`);
  const grace = optionalText(raw.stop_grace_period, `${name}.stop_grace_period`);
  const image = optionalText(raw.image, `${name}.image`);
  const hostname = optionalText(raw.hostname, `${name}.hostname`);
  const restart = optionalText(raw.restart, `${name}.restart`);
  return {
    name,
    ...(image === undefined ? {} : { image }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(restart === undefined ? {} : { restart }),
    // A string command is compose's shell form; its words are enough to tell the role.
    command:
      typeof raw.command === 'string'
        ? raw.command.split(/\s+/)
        : list(raw.command, `${name}.command`).map((arg) => text(arg, `${name}.command`)),
    environment: Object.fromEntries(
      Object.entries(environment).map(([key, v]) => [key, text(v, `${name}.environment.${key}`)]),
    ),
    dependsOn: Object.fromEntries(
      Object.entries(dependsOn).map(([target, v]) => [
        target,
        text(mapping(v, `${name}.depends_on.${target}`).condition, `${name}.depends_on`),
      ]),
    ),
    ...(healthcheck === undefined || healthcheck.disable === true
      ? {}
      : {
          healthcheck: list(healthcheck.test, `${name}.healthcheck.test`).map((arg) =>
            text(arg, `${name}.healthcheck.test`),
          ),
        }),
    ...(grace === undefined ? {} : { stopGracePeriodMs: durationMs(grace) }),
    volumes: list(raw.volumes, `${name}.volumes`).map((v) => {
      const [source = '', target = ''] = text(v, `${name}.volumes`).split(':');
      return { source, target };
    }),
    ports: list(raw.ports, `${name}.ports`).map((p) => parsePort(p, `${name}.ports`)),
  };
}

function parseCompose(yaml: string): ComposeFile {
  const file = mapping(parse(yaml), 'docker-compose.yml');
  const services = mapping(file.services, 'services');
  return {
    services: new Map(Object.entries(services).map(([name, s]) => [name, parseService(name, s)])),
    volumes: new Set(Object.keys(mapping(file.volumes ?? {}, 'volumes'))),
  };
}

/**
 * compose v1's `config` output: validated, anchors merged, `${VAR:-default}` interpolated. The
 * caller's environment and a local .env are kept out, so the file's own defaults are checked.
 */
async function normalized(file: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swb-compose-env-'));
  try {
    const envFile = join(dir, 'empty.env');
    await writeFile(envFile, '');
    const { stdout } = await run('docker-compose', ['-f', file, '--env-file', envFile, 'config'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function validate(file: string): Promise<{ ok: boolean; stderr: string }> {
  try {
    await run('docker-compose', ['-f', file, 'config', '-q']);
    return { ok: true, stderr: '' };
  } catch (error) {
    return { ok: false, stderr: (error as { stderr?: string }).stderr ?? String(error) };
  }
}

/** The services a service waits for, directly or through those it waits for. */
function waitsFor(file: ComposeFile, service: Service): ReadonlySet<string> {
  const seen = new Set<string>();
  const visit = (dependsOn: Readonly<Record<string, string>>): void => {
    for (const target of Object.keys(dependsOn)) {
      if (seen.has(target)) continue;
      seen.add(target);
      visit(file.services.get(target)?.dependsOn ?? {});
    }
  };
  visit(service.dependsOn);
  return seen;
}

/** The hosts of the servers an environment names: every URI, URL or host:port field, and drachtio. */
function serverHosts(role: Role, env: Readonly<Record<string, string>>): string[] {
  const addressFields = new Set(
    describeConfig(role.schema)
      .filter((field) => /URI|URL|host:port/.test(field.type))
      .map((field) => field.env),
  );
  addressFields.add('SWB_DRACHTIO_HOST');
  const hosts: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!addressFields.has(name)) continue;
    for (const item of value.split(',').filter((v) => v.trim() !== '')) {
      const address = item.includes('//')
        ? tryUriHostPort(item)
        : (tryParseHostPort(item) ?? { host: item, port: 0 });
      hosts.push(address?.host ?? `(unparsable ${name})`);
    }
  }
  return hosts;
}

/**
 * What is wrong with one role service, as sentences; empty when nothing is. Its command names a
 * role; its environment loads as that role's configuration with no warning, and names no SWB_
 * variable the role does not read (loadConfig only warns about near misses, since one
 * environment often serves several daemons; here each service's is its own); every server it
 * names is a service it waits for; a daemon is checked through its own ops port on a reachable
 * interface, and given the time to drain on stop.
 */
function checkRoleService(file: ComposeFile, service: Service): string[] {
  const problems: string[] = [];
  const [roleName] = service.command;
  const role = roleName === undefined ? undefined : roles[roleName];
  if (role === undefined) return [`command ${JSON.stringify(service.command)} names no role`];
  if (service.image !== image) problems.push(`image is ${String(service.image)}, not ${image}`);

  const fields = new Set(describeConfig(role.schema).map((field) => field.env));
  for (const name of Object.keys(service.environment)) {
    if (name.startsWith('SWB_') && !fields.has(name)) {
      problems.push(`${name} is not a variable of ${roleName}'s configuration`);
    }
  }

  let config: Json | undefined;
  try {
    const loaded = loadConfig(role.schema, {
      env: service.environment,
      requiredWhen: role.requiredWhen,
    });
    config = loaded.config;
    problems.push(...loaded.warnings.map((warning) => `warning: ${warning.message}`));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.issues.map((issue) => `${issue.env || issue.path}: ${issue.message}`));
  }

  const reachable = waitsFor(file, service);
  const names = new Set(
    [...file.services.values()].flatMap((s) => [s.name, ...(s.hostname ? [s.hostname] : [])]),
  );
  for (const host of serverHosts(role, service.environment)) {
    if (!names.has(host)) {
      problems.push(`names server ${host}, which is no service of the file`);
    } else if (host !== service.name && host !== service.hostname && !reachable.has(host)) {
      problems.push(`names server ${host} but does not wait for it (depends_on)`);
    }
  }

  if (role.daemon && config !== undefined) {
    const ops = mapping(config.ops, 'ops');
    if (service.environment.SWB_OPS_PORT === undefined) {
      problems.push('SWB_OPS_PORT is not set: the healthcheck reads it');
    }
    if (ops.host !== '0.0.0.0') {
      problems.push(`ops endpoint listens on ${String(ops.host)}, not 0.0.0.0`);
    }
    if (JSON.stringify(service.healthcheck) !== JSON.stringify(daemonHealthcheck)) {
      problems.push(`healthcheck is ${JSON.stringify(service.healthcheck)}`);
    }
    const drain = Number(config.shutdownTimeoutMs);
    if (service.stopGracePeriodMs === undefined || service.stopGracePeriodMs <= drain) {
      problems.push(`stop_grace_period does not outlast SWB_SHUTDOWN_TIMEOUT_MS (${drain} ms)`);
    }
    if (service.environment.SWB_NODE_ID === undefined) problems.push('SWB_NODE_ID is not set');
  }
  return problems;
}

function secretOf(value: unknown): string {
  if (!(value instanceof Secret)) throw new TypeError('expected a Secret');
  return value.reveal();
}

/** The loaded configuration of a role service that checkRoleService accepted. */
function configOf(service: Service): Json {
  const role = roles[service.command[0] ?? ''];
  if (role === undefined) throw new TypeError(`${service.name} runs no role`);
  const { config } = loadConfig(role.schema, {
    env: service.environment,
    requiredWhen: role.requiredWhen,
  });
  return config;
}

describe('docker-compose.yml', () => {
  let file: ComposeFile;
  const service = (name: string): Service => {
    const found = file.services.get(name);
    if (found === undefined) throw new Error(`no service ${name}`);
    return found;
  };

  beforeAll(async () => {
    file = parseCompose(await normalized(composeFile));
  });

  it('is accepted by docker-compose config', async () => {
    const result = await validate(composeFile);
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });

  it('is checked by a validator that does reject a broken file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swb-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      await writeFile(
        broken,
        'services:\n  db:\n    image: mariadb\n    depends_on: { nope: { condition: sometimes } }\n',
      );
      const result = await validate(broken);
      expect(result.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs each role of the platform from the one image', () => {
    const fromImage = [...file.services.values()].filter((s) => s.image === image);
    expect(fromImage.map((s) => s.name).sort()).toEqual([...roleServices].sort());
  });

  it.each(roleServices)(
    '%s: its environment loads as its role configuration, and nothing in it is amiss',
    (name) => {
      expect(checkRoleService(file, service(name))).toEqual([]);
    },
  );

  it('gives every node a node id of its own', () => {
    const ids = roleServices
      .map((name) => service(name).environment.SWB_NODE_ID)
      .filter((id) => id !== undefined);
    expect(ids).toHaveLength(roleServices.length - 1); // migrate is no node
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('waits only for services that exist, and for each by a condition it can meet', () => {
    const problems: string[] = [];
    for (const s of file.services.values()) {
      for (const [target, condition] of Object.entries(s.dependsOn)) {
        const dependency = file.services.get(target);
        if (dependency === undefined) {
          problems.push(`${s.name} waits for ${target}, which does not exist`);
        } else if (dependency.restart === 'no') {
          if (condition !== 'service_completed_successfully') {
            problems.push(`${s.name} waits for the one-shot ${target} with ${condition}`);
          }
        } else if (condition === 'service_healthy' && dependency.healthcheck === undefined) {
          problems.push(`${s.name} waits for ${target} to be healthy; it has no healthcheck`);
        } else if (condition === 'service_completed_successfully') {
          problems.push(`${s.name} waits for ${target} to complete; it is long-running`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("keeps the workers' spool directory on one named volume both workers mount", () => {
    for (const name of ['worker-1', 'worker-2']) {
      const spool = mapping(configOf(service(name)).spool, 'spool');
      const mount = service(name).volumes.find((v) => v.target === spool.dir);
      expect(mount?.source, `${name} mounts its spool dir`).toBe('spool');
      expect(file.volumes.has('spool')).toBe(true);
    }
  });

  it("uses one join token on both sides, and the controllers' API port in every node's URLs", () => {
    const controllers = ['controller-1', 'controller-2'].map((name) => {
      const api = mapping(configOf(service(name)).api, 'api');
      return { name, api };
    });
    const joinToken = secretOf(controllers[0]?.api.joinToken);
    for (const { api } of controllers) expect(secretOf(api.joinToken)).toBe(joinToken);

    for (const name of ['queue', 'worker-1', 'worker-2', 'sip-edge']) {
      const client = mapping(configOf(service(name)).controller, 'controller');
      expect(secretOf(client.joinToken), name).toBe(joinToken);
      const urls = list(client.urls, 'urls').map((u) => text(u, 'url'));
      expect(urls, name).toEqual(
        controllers.map(({ name: host, api }) => `http://${host}:${String(api.port)}`),
      );
    }
  });

  it("publishes each controller's API on loopback and no daemon's ops endpoint", () => {
    for (const [name, published] of [
      ['controller-1', '8080'],
      ['controller-2', '8081'],
    ] as const) {
      const api = mapping(configOf(service(name)).api, 'api');
      expect(service(name).ports).toEqual([
        { hostIp: '127.0.0.1', published, target: String(api.port) },
      ]);
    }
    for (const name of ['queue', 'worker-1', 'worker-2', 'sip-edge']) {
      expect(service(name).ports, name).toEqual([]);
    }
  });

  it('gives the SIP edge the secret drachtio-server is started with', () => {
    const drachtio = mapping(configOf(service('sip-edge')).drachtio, 'drachtio');
    expect(drachtio.host).toBe('drachtio');
    expect(secretOf(drachtio.secret)).toBe(service('drachtio').environment.DRACHTIO_SECRET);
    expect(service('drachtio').healthcheck).toBeDefined();
  });

  it("mounts the primary's init scripts from the checkout", () => {
    const init = service('mariadb-primary').volumes.find(
      (v) => v.target === '/docker-entrypoint-initdb.d',
    );
    expect(init).toBeDefined();
    expect(existsSync(join(init?.source ?? '', '10-switchboard-grants.sql'))).toBe(true);
  });

  it("runs the Elasticsearch major version the worker's client speaks", async () => {
    const require = createRequire(join(root, 'packages/storage/package.json'));
    const manifest = JSON.parse(
      await readFile(require.resolve('@elastic/elasticsearch/package.json'), 'utf8'),
    ) as { version: string };
    const tag = /:(\d+)\.[^:]*$/.exec(service('elasticsearch').image ?? '')?.[1];
    expect(tag).toBe(manifest.version.split('.')[0]);
  });

  describe('the role service check', () => {
    const worker = (): Service => service('worker-1');

    it("accepts the file's worker as it is", () => {
      expect(checkRoleService(file, worker())).toEqual([]);
    });

    it('rejects a misspelled variable, even one far from every real name', () => {
      const near = { ...worker().environment, SWB_SPOOL_DIRR: '/spool' };
      const far = { ...worker().environment, SWB_ELASTICSEARCH_URL: 'http://elasticsearch:9200' };
      expect(checkRoleService(file, { ...worker(), environment: near })).toEqual([
        "SWB_SPOOL_DIRR is not a variable of worker's configuration",
        'warning: SWB_SPOOL_DIRR matches no configuration field; did you mean SWB_SPOOL_DIR?',
      ]);
      expect(checkRoleService(file, { ...worker(), environment: far })).toEqual([
        "SWB_ELASTICSEARCH_URL is not a variable of worker's configuration",
      ]);
    });

    it('rejects an invalid or missing value, naming the variable', () => {
      const { SWB_SPOOL_DIR: _spool, ...withoutSpool } = worker().environment;
      const broken = { ...withoutSpool, SWB_OPS_PORT: '99999' };
      expect(checkRoleService(file, { ...worker(), environment: broken })).toEqual([
        'SWB_OPS_PORT: expected integer ≤ 65535',
        'SWB_SPOOL_DIR: is required',
      ]);
    });

    it('rejects a server that is no service, or one the daemon does not wait for', () => {
      const typo = { ...worker().environment, SWB_REDIS_URL: 'redis://rediss:6379' };
      expect(checkRoleService(file, { ...worker(), environment: typo })).toEqual([
        'names server rediss, which is no service of the file',
      ]);
      const { redis: _redis, ...dependsOn } = worker().dependsOn;
      expect(checkRoleService(file, { ...worker(), dependsOn })).toEqual([
        'names server redis but does not wait for it (depends_on)',
      ]);
    });

    it('rejects a daemon whose healthcheck or ops endpoint would not reach it', () => {
      const hidden = { ...worker().environment, SWB_OPS_HOST: '127.0.0.1' };
      expect(
        checkRoleService(file, { ...worker(), environment: hidden, healthcheck: ['CMD', 'true'] }),
      ).toEqual([
        'ops endpoint listens on 127.0.0.1, not 0.0.0.0',
        'healthcheck is ["CMD","true"]',
      ]);
    });
  });
});
