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
  }),
  sql: sqlConfigSchema(),
  kv: kvConfigSchema(),
  amqp: amqpConfigSchema(),
});

/** A controller URL needs the join token (the schema cannot say "required when" by itself). */
export const sipEdgeRequiredWhen: readonly RequiredWhen[] = [...controllerRequiredWhen];

export type SipEdgeConfig = ConfigOf<typeof sipEdgeConfigSchema>;
