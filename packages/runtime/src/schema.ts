import Type, {
  type TCodec,
  type TInteger,
  type TLiteral,
  type TObject,
  type TString,
  type TStringOptions,
  type TUnion,
} from 'typebox';
import { Secret } from './secret.js';
import { tryParseHostPort, tryUriHostPort } from './uri.js';

export type TSecretString = TCodec<TString, Secret>;

/**
 * A string field that decodes to `Secret`, so a password never sits in the config object as a
 * plain string. Its value is left out of error messages, and a default is documented as
 * `[redacted]`.
 */
export function SecretString(options: TStringOptions = {}): TSecretString {
  return Type.Codec(Type.String({ ...options, writeOnly: true }))
    .Decode((value) => new Secret(value))
    .Encode((secret) => secret.reveal());
}

export interface UriStringOptions extends TStringOptions {
  /** Accepted URL protocols, with the colon: `['mysql:']`. */
  readonly protocols: readonly string[];
  /** How docs and errors name the type, e.g. `mysql URI`; default from the first protocol. */
  readonly typeName?: string;
}

/**
 * A URI with one of the given protocols and a host (and a port, or a scheme whose port is
 * known). Checked when the config loads, so a daemon never starts with an address it cannot use.
 */
export function UriString(options: UriStringOptions): TString {
  const { protocols, typeName, ...rest } = options;
  const name = typeName ?? `${protocols[0]?.replace(/:$/, '') ?? ''} URI`;
  const schemes = protocols.map((p) => `${p}//`).join(' or ');
  const message = `expected a ${name} (${schemes}…)`;
  return Type.Refine(
    Type.String({ ...rest, 'x-type': name }),
    (value: unknown) =>
      typeof value === 'string' &&
      protocols.some((p) => value.startsWith(`${p}//`)) &&
      tryUriHostPort(value) !== undefined,
    () => message,
  );
}

/** A `host:port` string (IPv6 as `[::1]:7000`). */
export function HostPortString(options: TStringOptions = {}): TString {
  return Type.Refine(
    Type.String({ ...options, 'x-type': 'host:port' }),
    (value: unknown) => typeof value === 'string' && tryParseHostPort(value) !== undefined,
    () => 'expected host:port with a port in 1..65535',
  );
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export type TLogLevel = TUnion<
  [
    TLiteral<'fatal'>,
    TLiteral<'error'>,
    TLiteral<'warn'>,
    TLiteral<'info'>,
    TLiteral<'debug'>,
    TLiteral<'trace'>,
    TLiteral<'silent'>,
  ]
>;

export function LogLevelSchema(options: { readonly default?: LogLevel } = {}): TLogLevel {
  return Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { ...options, description: 'pino log level' },
  );
}

/** The ops endpoint's address (`/healthz`, `/readyz`, `/metrics`). */
export function opsSchema(defaultPort: number): TObject<{ host: TString; port: TInteger }> {
  return Type.Object({
    host: Type.String({
      default: '127.0.0.1',
      description: 'Interface the ops endpoint listens on (0.0.0.0 in a container)',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: defaultPort,
      description: 'Port of the ops endpoint (0 picks a free port)',
    }),
  });
}

/**
 * The fields every daemon has, to spread into its schema:
 * `Type.Object({ ...daemonConfigProperties(9402), redis: ... })`. `nodeId` has no static
 * default: `runMain` computes `<role>-<hostname>-<pid>` at load.
 */
export function daemonConfigProperties(defaultOpsPort: number) {
  return {
    nodeId: Type.String({
      minLength: 1,
      'x-default': '<role>-<hostname>-<pid>',
      description: 'Unique name of this node in logs, metrics and the registry',
    }),
    logLevel: LogLevelSchema({ default: 'info' }),
    ops: opsSchema(defaultOpsPort),
    shutdownTimeoutMs: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'How long a graceful close may take before the daemon is destroyed',
    }),
  };
}

export type DaemonConfigProperties = ReturnType<typeof daemonConfigProperties>;
