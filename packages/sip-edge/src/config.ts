import {
  SecretString,
  Type,
  amqpConfigSchema,
  controllerClientConfigSchema,
  controllerRequiredWhen,
  daemonConfigProperties,
  kvConfigSchema,
  sqlConfigSchema,
  type ConfigOf,
  type ConfigReferenceSection,
  type RequiredWhen,
} from '@switchboard/runtime';

export const sipEdgeOpsPort = 9403;

/** The SIP edge's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const sipEdgeConfigSchema = Type.Object({
  ...daemonConfigProperties(sipEdgeOpsPort),
  controller: controllerClientConfigSchema(),
  drachtio: Type.Object({
    host: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'drachtio-server control address; unset: wait, unready, until configured',
      }),
    ),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 9022,
      description: 'drachtio-server control port',
    }),
    // drachtio-server ships with this shared secret; production configs override it.
    secret: SecretString({ default: 'cymru', description: 'drachtio-server shared secret' }),
    reconnectMaxMs: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'Longest wait between reconnect attempts to drachtio-server, ms',
    }),
  }),
  sip: Type.Object({
    domains: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      default: ['localhost'],
      description:
        'Domains (and addresses) whose users this edge serves, comma-separated; a REGISTER for another gets 403',
    }),
    minExpires: Type.Integer({
      minimum: 1,
      default: 60,
      description: 'Shortest registration accepted, seconds (shorter: 423 Interval Too Brief)',
    }),
    maxExpires: Type.Integer({
      minimum: 1,
      default: 3600,
      description: 'Longest registration granted, seconds (longer ones are cut to it)',
    }),
  }),
  auth: Type.Object({
    // Every edge must share it (a nonce made by one edge is checked by another), so it is not
    // generated per process: it is required once the edge takes SIP traffic.
    nonceSecret: Type.Optional(
      SecretString({
        minLength: 16,
        description: 'HMAC key of the digest nonces, shared by every edge (at least 16 bytes)',
      }),
    ),
    nonceTtlMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description: 'How long a digest nonce may be used, ms',
    }),
  }),
  flood: Type.Object({
    windowMs: Type.Integer({
      minimum: 100,
      default: 2000,
      description: 'Request-counting window, ms',
    }),
    maxRequests: Type.Integer({
      minimum: 1,
      default: 40,
      description: 'Requests a source may send per window before it is limited',
    }),
    failedAuthLimit: Type.Integer({
      minimum: 1,
      default: 5,
      description: 'Failed authentications within failedAuthWindowMs that ban a source',
    }),
    failedAuthWindowMs: Type.Integer({
      minimum: 1000,
      default: 60_000,
      description: 'Window in which failed authentications are counted toward a ban, ms',
    }),
    banMs: Type.Integer({
      minimum: 1000,
      default: 300_000,
      description: 'How long a ban lasts, ms',
    }),
  }),
  pbx: Type.Object({
    probeIntervalMs: Type.Integer({
      minimum: 100,
      default: 5000,
      description: 'Between OPTIONS probe rounds of the PBX nodes, ms',
    }),
    probeTimeoutMs: Type.Integer({
      minimum: 100,
      default: 2000,
      description: 'How long a PBX node has to answer an OPTIONS probe, ms',
    }),
    failuresToDown: Type.Integer({
      minimum: 1,
      default: 2,
      description: 'Consecutive failed probes that take a PBX node out of routing',
    }),
    attemptTimeoutMs: Type.Integer({
      minimum: 100,
      default: 5000,
      description: 'A PBX silent this long on an INVITE is given up for the next one, ms',
    }),
  }),
  drain: Type.Object({
    retryAfterSeconds: Type.Integer({
      minimum: 1,
      default: 30,
      description: 'Retry-After of the 503 a new INVITE gets while the edge drains',
    }),
  }),
  sql: sqlConfigSchema(),
  kv: kvConfigSchema(),
  amqp: amqpConfigSchema(),
});

/**
 * A controller URL needs the join token; a drachtio-server (SIP traffic) needs the nonce secret,
 * which every edge must share.
 */
export const sipEdgeRequiredWhen: readonly RequiredWhen[] = [
  ...controllerRequiredWhen,
  { path: 'auth.nonceSecret', when: 'drachtio.host', set: true },
];

export type SipEdgeConfig = ConfigOf<typeof sipEdgeConfigSchema>;

/** The SIP edge's part of the configuration reference (`npm run docs`). */
export const sipEdgeConfigReference: ConfigReferenceSection = {
  name: 'sip-edge',
  summary:
    'The SIP edge is a drachtio-srf application behind a drachtio-server: it registers phones with digest authentication, routes calls to registered phones or PBX nodes, and limits floods.',
  schema: sipEdgeConfigSchema,
  requiredWhen: sipEdgeRequiredWhen,
};
