import {
  Type,
  amqpConfigSchema,
  controllerClientConfigSchema,
  controllerRequiredWhen,
  daemonConfigProperties,
  redisConfigSchema,
  type ConfigOf,
  type ConfigReferenceSection,
  type RequiredWhen,
} from '@switchboard/runtime';
import { defaultTaskQueue } from './catalogue/jobs.js';

export const queueOpsPort = 9401;

const Int = (min: number, max: number, defaultValue: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: defaultValue, description });

/** The queue daemon's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const queueConfigSchema = Type.Object({
  ...daemonConfigProperties(queueOpsPort),
  controller: controllerClientConfigSchema(),
  amqp: amqpConfigSchema(),
  redis: redisConfigSchema(),
  bus: Type.Object({
    exchange: Type.String({
      minLength: 1,
      maxLength: 255,
      default: 'switchboard.events',
      description: 'The topic exchange events are published on (routing key = event name)',
    }),
    heartbeatSeconds: Int(0, 600, 10, 'AMQP heartbeat; 0 disables it'),
    prefetch: Int(1, 10_000, 32, 'Unacked deliveries per consumer (also its handler concurrency)'),
    maxAttempts: Int(1, 100, 5, 'Handler runs per message before it is dead-lettered'),
    bufferMaxMessages: Int(1, 10_000_000, 10_000, 'Publishes held while disconnected'),
    bufferMaxBytes: Int(1024, 2 ** 31, 16 * 1024 * 1024, 'Bytes held while disconnected'),
    reconnectInitialMs: Int(10, 60_000, 100, 'First reconnect delay (doubles, with jitter)'),
    reconnectMaxMs: Int(100, 600_000, 10_000, 'Longest reconnect delay'),
    drainTimeoutMs: Int(0, 600_000, 10_000, 'On close, wait this long for handlers and confirms'),
  }),
  bridge: Type.Object({
    queue: Type.String({
      minLength: 1,
      maxLength: 255,
      default: 'switchboard.bridge',
      description: 'The AMQP queue the bridge consumes',
    }),
    taskQueue: Type.String({
      minLength: 1,
      maxLength: 255,
      default: defaultTaskQueue,
      description: 'The BullMQ queue jobs go to (the worker reads it)',
    }),
    prefix: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'bull',
      description: 'BullMQ key prefix in Redis (the worker must use the same)',
    }),
    publishOutcomes: Type.Boolean({
      default: true,
      description: 'Publish job.completed / job.failed from BullMQ events',
    }),
  }),
});

/** A controller URL needs the join token (the schema cannot say "required when" by itself). */
export const queueRequiredWhen: readonly RequiredWhen[] = [...controllerRequiredWhen];

export type QueueConfig = ConfigOf<typeof queueConfigSchema>;

/** The queue daemon's part of the configuration reference (`npm run docs`). */
export const queueConfigReference: ConfigReferenceSection = {
  name: 'queue',
  summary:
    "The queue daemon carries events over RabbitMQ and bridges them to BullMQ jobs for the worker, publishing the jobs' outcomes back as events.",
  schema: queueConfigSchema,
  requiredWhen: queueRequiredWhen,
};
