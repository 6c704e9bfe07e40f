import Type, {
  type TArray,
  type TInteger,
  type TObject,
  type TOptional,
  type TString,
} from 'typebox';
import type { RequiredWhen } from './config.js';
import { anyOfCheck, tcpCheck, uriCheck, type ReadinessCheck } from './readiness.js';
import { HostPortString, SecretString, UriString, type TSecretString } from './schema.js';
import { parseHostPort } from './uri.js';

// Config pieces and readiness checks for the servers several daemons share. No field has a
// default address: a daemon must be told where its dependencies are (the `npm start` launcher
// passes the sandbox's), never guess a port on the local machine.

const mysqlUri = (description: string): TString =>
  UriString({ protocols: ['mysql:', 'mariadb:'], typeName: 'mysql URI', description });

export type SqlConfigSchema = TObject<{ primary: TString; replicas: TArray<TString> }>;

/** `sql.primary` (required) and `sql.replicas` (default none). */
export function sqlConfigSchema(): SqlConfigSchema {
  return Type.Object({
    primary: mysqlUri('MySQL/MariaDB primary, e.g. mysql://user:password@db-1:3306/switchboard'),
    replicas: Type.Array(mysqlUri('MySQL/MariaDB read replica'), {
      default: [],
      description: 'Read replicas (comma-separated URIs)',
    }),
  });
}

export type RedisConfigSchema = TObject<{ url: TString }>;

/** `redis.url`: the standalone Redis that BullMQ uses. */
export function redisConfigSchema(): RedisConfigSchema {
  return Type.Object({
    url: UriString({
      protocols: ['redis:', 'rediss:'],
      typeName: 'redis URI',
      description: 'Redis for job queues, e.g. redis://redis-1:6379',
    }),
  });
}

export type AmqpConfigSchema = TObject<{ urls: TArray<TString> }>;

/** `amqp.urls`: the RabbitMQ nodes of one cluster, any of which will do. */
export function amqpConfigSchema(): AmqpConfigSchema {
  return Type.Object({
    urls: Type.Array(UriString({ protocols: ['amqp:', 'amqps:'], typeName: 'amqp URI' }), {
      minItems: 1,
      description: 'RabbitMQ nodes (comma-separated URIs), e.g. amqp://user:password@mq-1:5672',
    }),
  });
}

export type KvConfigSchema = TObject<{ nodes: TArray<TString> }>;

/** `kv.nodes`: seed nodes of the Redis Cluster behind the distributed key-value store. */
export function kvConfigSchema(): KvConfigSchema {
  return Type.Object({
    nodes: Type.Array(HostPortString(), {
      minItems: 1,
      description: 'Redis Cluster seed nodes (comma-separated host:port)',
    }),
  });
}

export type ControllerClientConfigSchema = TObject<{
  urls: TArray<TString>;
  joinToken: TOptional<TSecretString>;
  heartbeatIntervalMs: TInteger;
}>;

/**
 * `controller.urls` (default none: the daemon runs without a controller), `controller.joinToken`
 * (needed when urls are set; see `controllerJoinTokenRequired`) and the heartbeat interval.
 */
export function controllerClientConfigSchema(): ControllerClientConfigSchema {
  return Type.Object({
    urls: Type.Array(UriString({ protocols: ['http:', 'https:'], typeName: 'http(s) URL' }), {
      default: [],
      description:
        'Controllers this node registers with (comma-separated URLs), e.g. http://ctl-1:9400; none: no registration',
    }),
    joinToken: Type.Optional(
      SecretString({
        minLength: 1,
        description: "The cluster's join token, required when controller URLs are set",
      }),
    ),
    heartbeatIntervalMs: Type.Integer({
      minimum: 100,
      default: 2000,
      description: 'How often the node renews its lease with the controller',
    }),
  });
}

/**
 * Add to a daemon's `requiredWhen` (with `controller` as the config key): a node told where the
 * controllers are cannot register without the join token, so the load fails naming
 * SWB_CONTROLLER_JOIN_TOKEN instead of the daemon retrying 401s forever.
 */
export const controllerRequiredWhen: readonly RequiredWhen[] = [
  { path: 'controller.joinToken', when: 'controller.urls', set: true },
];

/**
 * The primary is critical (losing it stops writes); each replica is checked but not critical,
 * since reads move to another replica or to the primary.
 */
export function sqlChecks(sql: {
  readonly primary: string;
  readonly replicas: readonly string[];
}): ReadinessCheck[] {
  return [
    uriCheck('sql.primary', sql.primary),
    ...sql.replicas.map((uri, i) => uriCheck(`sql.replicas[${i}]`, uri, { critical: false })),
  ];
}

/** Ready when any one cluster node answers: a client can connect through it. */
export function amqpCheck(amqp: { readonly urls: readonly string[] }): ReadinessCheck {
  return anyOfCheck(
    'amqp',
    amqp.urls.map((uri, i) => uriCheck(`amqp.urls[${i}]`, uri)),
  );
}

/** Ready when any seed node answers: the cluster client discovers the rest from it. */
export function kvCheck(kv: { readonly nodes: readonly string[] }): ReadinessCheck {
  return anyOfCheck(
    'kv',
    kv.nodes.map((node, i) => tcpCheck(`kv.nodes[${i}]`, parseHostPort(node))),
  );
}

export function redisCheck(redis: { readonly url: string }): ReadinessCheck {
  return uriCheck('redis', redis.url);
}
