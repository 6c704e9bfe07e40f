import {
  Type,
  amqpConfigSchema,
  daemonConfigProperties,
  kvConfigSchema,
  sqlConfigSchema,
  type ConfigOf,
} from '@switchboard/runtime';

export const controllerOpsPort = 9400;

/** The controller's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const controllerConfigSchema = Type.Object({
  ...daemonConfigProperties(controllerOpsPort),
  sql: sqlConfigSchema(),
  kv: kvConfigSchema(),
  amqp: amqpConfigSchema(),
});

export type ControllerConfig = ConfigOf<typeof controllerConfigSchema>;
