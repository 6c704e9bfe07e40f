import {
  Type,
  amqpConfigSchema,
  daemonConfigProperties,
  redisConfigSchema,
  type ConfigOf,
} from '@switchboard/runtime';

export const queueOpsPort = 9401;

/** The queue daemon's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const queueConfigSchema = Type.Object({
  ...daemonConfigProperties(queueOpsPort),
  amqp: amqpConfigSchema(),
  redis: redisConfigSchema(),
});

export type QueueConfig = ConfigOf<typeof queueConfigSchema>;
