import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  HostPortString,
  Secret,
  SecretString,
  UriString,
  controllerClientConfigSchema,
  controllerRequiredWhen,
  daemonConfigProperties,
  describeConfig,
  envNameFor,
  loadConfig,
  type LoadConfigOptions,
  type RequiredWhen,
} from '../src/index.js';

const schema = Type.Object({
  ...daemonConfigProperties(9400),
  sql: Type.Object({
    primary: UriString({ protocols: ['mysql:'], typeName: 'mysql URI' }),
    replicas: Type.Array(UriString({ protocols: ['mysql:'], typeName: 'mysql URI' }), {
      default: [],
    }),
    password: Type.Optional(SecretString({ minLength: 8 })),
  }),
  kv: Type.Object({ nodes: Type.Array(HostPortString(), { minItems: 1 }) }),
  feature: Type.Object({
    enabled: Type.Boolean({ default: false }),
    ratio: Type.Number({ default: 0.5 }),
    mode: Type.Union([Type.Literal('fast'), Type.Literal('safe')], { default: 'safe' }),
  }),
});

const required = {
  SWB_NODE_ID: 'node-1',
  SWB_SQL_PRIMARY: 'mysql://root@127.0.0.1:3306',
  SWB_KV_NODES: '127.0.0.1:7000',
};

function load(env: Record<string, string>, options: Partial<LoadConfigOptions> = {}) {
  return loadConfig(schema, { env: { ...required, ...env }, ...options });
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('envNameFor', () => {
  it.each([
    ['ops.port', 'SWB_OPS_PORT'],
    ['sql.replicas', 'SWB_SQL_REPLICAS'],
    ['shutdownTimeoutMs', 'SWB_SHUTDOWN_TIMEOUT_MS'],
    ['blob.s3.accessKeyId', 'SWB_BLOB_S3_ACCESS_KEY_ID'],
    ['http2Port', 'SWB_HTTP2_PORT'],
    ['sqlURI', 'SWB_SQL_URI'],
  ])('maps %s to %s', (path, env) => {
    expect(envNameFor(path)).toBe(env);
  });
});

describe('loadConfig', () => {
  it('applies schema defaults when nothing else sets a field', () => {
    const { config } = load({});
    expect(config.ops).toEqual({ host: '127.0.0.1', port: 9400 });
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.logLevel).toBe('info');
    expect(config.sql.replicas).toEqual([]);
  });

  it('converts environment values to the type of their field', () => {
    const { config } = load({
      SWB_OPS_PORT: '9500',
      SWB_FEATURE_ENABLED: 'true',
      SWB_FEATURE_RATIO: '0.25',
      SWB_FEATURE_MODE: 'fast',
      SWB_SQL_REPLICAS: 'mysql://a:3306, mysql://b:3306',
      SWB_KV_NODES: '["10.0.0.1:7000","10.0.0.2:7000"]',
    });
    expect(config.ops.port).toBe(9500);
    expect(config.feature).toEqual({ enabled: true, ratio: 0.25, mode: 'fast' });
    expect(config.sql.replicas).toEqual(['mysql://a:3306', 'mysql://b:3306']);
    expect(config.kv.nodes).toEqual(['10.0.0.1:7000', '10.0.0.2:7000']);
  });

  it.each([
    ['1', true],
    ['0', false],
    ['FALSE', false],
    ['True', true],
  ])('reads the boolean %s as %s', (text, value) => {
    expect(load({ SWB_FEATURE_ENABLED: text }).config.feature.enabled).toBe(value);
  });

  it('treats an empty variable as unset', () => {
    const { config } = load({ SWB_OPS_PORT: '', SWB_SQL_REPLICAS: '' });
    expect(config.ops.port).toBe(9400);
    expect(config.sql.replicas).toEqual([]);
  });

  it('layers schema defaults < computed defaults < file < environment < command line', () => {
    const file = JSON.stringify({ ops: { host: '0.0.0.0', port: 9501 }, logLevel: 'debug' });
    const { config } = loadConfig(schema, {
      env: { ...required, SWB_NODE_ID: '', SWB_CONFIG: '/etc/swb.json', SWB_OPS_PORT: '9502' },
      argvOverrides: ['--logLevel=warn'],
      defaults: { nodeId: 'computed-node' },
      readFile: (path) => {
        expect(path).toBe('/etc/swb.json');
        return file;
      },
    });
    expect(config.nodeId).toBe('computed-node');
    expect(config.ops).toEqual({ host: '0.0.0.0', port: 9502 });
    expect(config.logLevel).toBe('warn');
  });

  it('decodes secret fields to Secret and never stores them as plain strings', () => {
    const { config } = load({ SWB_SQL_PASSWORD: 'correct horse' });
    expect(config.sql.password).toBeInstanceOf(Secret);
    expect(config.sql.password?.reveal()).toBe('correct horse');
    expect(JSON.stringify(config)).not.toContain('correct horse');
  });

  it('returns a deeply frozen object', () => {
    const { config } = load({ SWB_SQL_REPLICAS: 'mysql://a:3306' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.ops)).toBe(true);
    expect(Object.isFrozen(config.sql.replicas)).toBe(true);
    expect(() => {
      (config.ops as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it("warns about an SWB_ variable one typo away from a field, and ignores other daemons' variables", () => {
    const { warnings } = load({ SWB_OPS_PROT: '9500', SWB_TOTALLY_UNRELATED: 'x', PATH: '/bin' });
    expect(warnings).toEqual([
      {
        key: 'SWB_OPS_PROT',
        message: 'SWB_OPS_PROT matches no configuration field; did you mean SWB_OPS_PORT?',
      },
    ]);
  });

  it('warns about config file keys that match no field', () => {
    const { warnings } = load(
      { SWB_CONFIG: 'swb.json' },
      { readFile: () => JSON.stringify({ ops: { prot: 1 } }) },
    );
    expect(warnings.map((w) => w.key)).toEqual(['ops.prot']);
  });

  it('throws one ConfigError naming every bad field by its variable', () => {
    const error = configError(() =>
      loadConfig(schema, {
        env: {
          SWB_OPS_PORT: '99999',
          SWB_SHUTDOWN_TIMEOUT_MS: 'soon',
          SWB_FEATURE_MODE: 'turbo',
          SWB_KV_NODES: '127.0.0.1:7000,nohost',
        },
      }),
    );
    expect(error.code).toBe('SWB_CONFIG_INVALID');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('SWB_OPS_PORT: expected integer ≤ 65535, got "99999"');
    expect(error.message).toContain('SWB_SHUTDOWN_TIMEOUT_MS: expected integer, got "soon"');
    expect(error.message).toContain('SWB_FEATURE_MODE: expected "fast" | "safe", got "turbo"');
    expect(error.message).toContain('SWB_KV_NODES: item 1: expected host:port');
    expect(error.message).toContain('SWB_SQL_PRIMARY is required');
    expect(error.message).toContain('SWB_NODE_ID is required');
    expect(error.issues.map((issue) => issue.env).sort()).toEqual([
      'SWB_FEATURE_MODE',
      'SWB_KV_NODES',
      'SWB_NODE_ID',
      'SWB_OPS_PORT',
      'SWB_SHUTDOWN_TIMEOUT_MS',
      'SWB_SQL_PRIMARY',
    ]);
  });

  it('names the file and the variable when a bad value comes from the config file', () => {
    const error = configError(() =>
      load({ SWB_CONFIG: '/etc/swb.json' }, { readFile: () => '{"ops":{"port":-1}}' }),
    );
    expect(error.message).toContain(
      'ops.port in /etc/swb.json (env SWB_OPS_PORT): expected integer ≥ 0, got -1',
    );
  });

  it('reports an unreadable or malformed config file under SWB_CONFIG', () => {
    const unreadable = configError(() =>
      load(
        { SWB_CONFIG: '/missing.json' },
        {
          readFile: () => {
            throw new Error('ENOENT: no such file');
          },
        },
      ),
    );
    expect(unreadable.message).toContain('SWB_CONFIG: cannot read config file /missing.json');
    const malformed = configError(() => load({ SWB_CONFIG: 'x.json' }, { readFile: () => '{' }));
    expect(malformed.message).toContain('SWB_CONFIG: config file x.json is not valid JSON');
  });

  it('keeps secret values out of error messages', () => {
    const error = configError(() => load({ SWB_SQL_PASSWORD: 'hunter2' }));
    expect(error.message).toContain('SWB_SQL_PASSWORD: expected at least 8 characters');
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(error)).not.toContain('hunter2');
  });

  it('masks URI passwords in the values it quotes', () => {
    const error = configError(() => load({ SWB_SQL_PRIMARY: 'postgres://app:hunter2@db:5432' }));
    expect(error.message).toContain('SWB_SQL_PRIMARY: expected a mysql URI');
    expect(error.message).toContain('postgres://app:***@db:5432');
    expect(error.message).not.toContain('hunter2');
  });

  it('reports a bad command-line value under its option name', () => {
    const error = configError(() => load({}, { argvOverrides: ['--ops.port=x'] }));
    expect(error.message).toContain('--ops.port: expected integer, got "x"');
  });

  it('rejects command-line arguments that name no field', () => {
    const error = configError(() => load({}, { argvOverrides: ['--ops.prot=1', 'stray'] }));
    expect(error.message).toContain('--ops.prot=1 is not a configuration option');
    expect(error.message).toContain('--stray is not a configuration option');
  });

  it('enforces fields that are required only while another field has a given value', () => {
    const conditional = Type.Object({
      driver: Type.Union([Type.Literal('posix'), Type.Literal('s3')], { default: 'posix' }),
      root: Type.Optional(Type.String()),
    });
    const rules: RequiredWhen[] = [{ path: 'root', when: 'driver', equals: 'posix' }];
    const error = configError(() => loadConfig(conditional, { env: {}, requiredWhen: rules }));
    expect(error.message).toContain('SWB_ROOT is required when SWB_DRIVER is "posix"');
    const s3 = loadConfig(conditional, { env: { SWB_DRIVER: 's3' }, requiredWhen: rules });
    expect(s3.config).toEqual({ driver: 's3' });
  });

  it('enforces fields that are required only while another field is set (a non-empty list)', () => {
    const conditional = Type.Object({
      controller: controllerClientConfigSchema(),
    });
    const rules = controllerRequiredWhen;
    const error = configError(() =>
      loadConfig(conditional, {
        env: { SWB_CONTROLLER_URLS: 'http://ctl-1:9400' },
        requiredWhen: rules,
      }),
    );
    expect(error.message).toContain(
      'SWB_CONTROLLER_JOIN_TOKEN is required when SWB_CONTROLLER_URLS is set',
    );
    const none = loadConfig(conditional, { env: {}, requiredWhen: rules });
    expect(none.config).toEqual({ controller: { urls: [], heartbeatIntervalMs: 2000 } });
    const both = loadConfig(conditional, {
      env: {
        SWB_CONTROLLER_URLS: 'http://ctl-1:9400,https://ctl-2:9400',
        SWB_CONTROLLER_JOIN_TOKEN: 'tok',
        SWB_CONTROLLER_HEARTBEAT_INTERVAL_MS: '500',
      },
      requiredWhen: rules,
    });
    expect(both.config.controller.urls).toEqual(['http://ctl-1:9400', 'https://ctl-2:9400']);
    expect(both.config.controller.joinToken?.reveal()).toBe('tok');
    expect(both.config.controller.heartbeatIntervalMs).toBe(500);
    const bad = configError(() =>
      loadConfig(conditional, {
        env: { SWB_CONTROLLER_URLS: 'ctl-1:9400', SWB_CONTROLLER_JOIN_TOKEN: 'tok' },
        requiredWhen: rules,
      }),
    );
    expect(bad.message).toContain('SWB_CONTROLLER_URLS');
    expect(bad.message).not.toContain('tok"');
    expect(describeConfig(conditional, { requiredWhen: rules })).toContainEqual(
      expect.objectContaining({
        path: 'controller.joinToken',
        secret: true,
        requiredWhen: 'controller.urls is set',
      }),
    );
  });

  it('includes the warnings in the ConfigError, since a typo often explains a missing field', () => {
    const error = configError(() => loadConfig(schema, { env: { SWB_SQL_PRIMRY: 'x' } }));
    expect(error.warnings.map((w) => w.message)).toContain(
      'SWB_SQL_PRIMRY matches no configuration field; did you mean SWB_SQL_PRIMARY?',
    );
  });
});

describe('describeConfig', () => {
  it('lists every field with its variable, type, default and whether it is secret', () => {
    const rows = describeConfig(schema);
    expect(rows.find((row) => row.path === 'ops.port')).toEqual({
      path: 'ops.port',
      env: 'SWB_OPS_PORT',
      type: 'integer',
      default: '9400',
      description: 'Port of the ops endpoint (0 picks a free port)',
      secret: false,
      required: false,
    });
    expect(rows.find((row) => row.path === 'sql.password')).toMatchObject({
      env: 'SWB_SQL_PASSWORD',
      type: 'secret string',
      secret: true,
      required: false,
    });
    expect(rows.find((row) => row.path === 'nodeId')).toMatchObject({
      default: '<role>-<hostname>-<pid>',
    });
    expect(rows.find((row) => row.path === 'sql.primary')).toMatchObject({
      type: 'mysql URI',
      required: true,
    });
  });

  it('shows the default of a secret field as redacted', () => {
    const rows = describeConfig(Type.Object({ token: SecretString({ default: 'cymru' }) }));
    expect(rows[0]?.default).toBe('[redacted]');
  });

  it("redacts a secret's documented default too", () => {
    const rows = describeConfig(
      Type.Object({ token: SecretString({ 'x-default': 'derived from the host key' }) }),
    );
    expect(rows[0]).toMatchObject({ default: '[redacted]', required: false });
  });

  it('joins several rules for one field with "or", since each alone makes it required', () => {
    const rows = describeConfig(
      Type.Object({
        mode: Type.String({ default: 'a' }),
        peers: Type.Array(Type.String(), { default: [] }),
        key: Type.Optional(Type.String()),
      }),
      {
        requiredWhen: [
          { path: 'key', when: 'mode', equals: 'b' },
          { path: 'key', when: 'peers', set: true },
        ],
      },
    );
    expect(rows.find((row) => row.path === 'key')?.requiredWhen).toBe('mode = "b" or peers is set');
  });
});
