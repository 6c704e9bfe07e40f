import {
  SecretString,
  Type,
  amqpConfigSchema,
  daemonConfigProperties,
  kvConfigSchema,
  sqlConfigSchema,
  type ConfigOf,
  type ConfigReferenceSection,
} from '@switchboard/runtime';

export const controllerOpsPort = 9400;
export const controllerApiPort = 8080;

const Int = (min: number, max: number, defaultValue: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: defaultValue, description });

/** The controller's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const controllerConfigSchema = Type.Object({
  ...daemonConfigProperties(controllerOpsPort),
  sql: sqlConfigSchema(),
  kv: kvConfigSchema(),
  amqp: amqpConfigSchema(),
  api: Type.Object({
    host: Type.String({
      default: '127.0.0.1',
      description: 'Interface the management API and dashboard listen on (0.0.0.0 in a container)',
    }),
    port: Int(0, 65535, controllerApiPort, 'Port of the management API and dashboard'),
    url: Type.Optional(
      Type.String({
        description:
          'The URL other controllers and the dashboard link to (default http://<host>:<port>)',
      }),
    ),
    adminToken: SecretString({
      minLength: 16,
      description: 'Bearer token of operators: every route (at least 16 characters)',
    }),
    joinToken: SecretString({
      minLength: 16,
      description:
        'Bearer token of nodes: register, heartbeat, read the topology (at least 16 characters)',
    }),
    rateLimitPerMinute: Int(
      1,
      10_000_000,
      6000,
      'Requests per minute per client address on operator routes and failed authentications',
    ),
    bodyLimitBytes: Int(1024, 16 * 1024 * 1024, 1024 * 1024, 'Largest request body accepted'),
  }),
  registry: Type.Object({
    namespace: Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      default: 'controller',
      description: 'kv namespace of the registry, leases, topology and plans (one per platform)',
    }),
    leaseTtlMs: Int(
      500,
      600_000,
      6000,
      'A node whose last heartbeat is older than this is down (nodes beat every third of it)',
    ),
  }),
  leader: Type.Object({
    leaseTtlMs: Int(
      500,
      600_000,
      5000,
      'Leader lease: another controller takes over within this after the leader dies',
    ),
    reconcileIntervalMs: Int(100, 60_000, 1000, 'How often the leader probes and reconciles'),
  }),
  probes: Type.Object({
    timeoutMs: Int(50, 60_000, 800, 'Bound on each probe of a server'),
    replicaMaxLagMs: Int(
      0,
      3_600_000,
      5000,
      'A replica further behind than this is unhealthy in the topology',
    ),
    searchNodes: Type.Array(Type.String({ pattern: '^https?://' }), {
      default: [],
      description: 'Elasticsearch nodes to probe (comma-separated http(s) URLs); none by default',
    }),
  }),
});

export type ControllerConfig = ConfigOf<typeof controllerConfigSchema>;

/** The controller's part of the configuration reference (`npm run docs`). */
export const controllerConfigReference: ConfigReferenceSection = {
  name: 'controller',
  summary:
    'The infrastructure controller keeps the registry of nodes and their leases, probes the servers and publishes the topology (several controllers run, one leads), and serves the management API and dashboard.',
  schema: controllerConfigSchema,
};
