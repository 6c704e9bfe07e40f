import { defaultTaskQueue } from '@switchboard/queue';
import {
  SecretString,
  Type,
  UriString,
  controllerClientConfigSchema,
  controllerRequiredWhen,
  daemonConfigProperties,
  redisConfigSchema,
  sqlConfigSchema,
  type ConfigOf,
  type ConfigReferenceSection,
  type RequiredWhen,
} from '@switchboard/runtime';

export const workerOpsPort = 9402;

/** The worker's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const workerConfigSchema = Type.Object({
  ...daemonConfigProperties(workerOpsPort),
  controller: controllerClientConfigSchema(),
  redis: redisConfigSchema(),
  sql: sqlConfigSchema(),
  blob: Type.Object({
    driver: Type.Union([Type.Literal('posix'), Type.Literal('s3')], {
      default: 'posix',
      description: 'Where recordings, voicemail and other blobs are stored',
    }),
    root: Type.Optional(
      Type.String({ minLength: 1, description: 'Directory (local or NFS) of the posix driver' }),
    ),
    s3: Type.Object({
      endpoint: Type.Optional(
        UriString({
          protocols: ['http:', 'https:'],
          typeName: 'http(s) URL',
          description: 'S3-compatible endpoint, e.g. https://s3.eu-west-1.amazonaws.com',
        }),
      ),
      region: Type.Optional(
        Type.String({ minLength: 1, description: 'S3 region, e.g. eu-west-1' }),
      ),
      bucket: Type.Optional(
        Type.String({ minLength: 1, description: 'Bucket the blobs are stored in' }),
      ),
      accessKeyId: Type.Optional(Type.String({ minLength: 1, description: 'S3 access key id' })),
      secretAccessKey: Type.Optional(
        SecretString({ minLength: 1, description: 'S3 secret access key' }),
      ),
      forcePathStyle: Type.Boolean({
        default: false,
        description: 'Path-style bucket addressing (most S3-compatible servers need it)',
      }),
    }),
  }),
  spool: Type.Object({
    dir: Type.String({
      minLength: 1,
      description:
        'Spool directory (local or NFS) where PBX nodes drop recordings; blob.ingest paths are relative to it',
    }),
  }),
  search: Type.Object({
    node: Type.Array(UriString({ protocols: ['http:', 'https:'], typeName: 'http(s) URL' }), {
      default: [],
      description:
        'Elasticsearch nodes (comma-separated URLs); none: CDRs are stored in SQL only and search.reindex fails',
    }),
    indexPrefix: Type.String({
      default: 'switchboard',
      pattern: '^[a-z0-9_-]+$',
      description: 'Every search index and alias name starts <indexPrefix>-',
    }),
    apiKey: Type.Optional(SecretString({ minLength: 1, description: 'Elasticsearch API key' })),
  }),
  queue: Type.Object({
    name: Type.String({
      minLength: 1,
      default: defaultTaskQueue,
      description: 'The BullMQ queue the tasks are taken from',
    }),
    prefix: Type.String({
      minLength: 1,
      default: 'bull',
      description: 'Redis key prefix of the BullMQ queue',
    }),
    lockDurationMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description:
        "How long a job lock lasts without renewal (renewed every half of it); a killed worker's jobs are recovered once it expires",
    }),
    stalledIntervalMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description:
        'How often this worker looks for jobs whose lock expired (stalled) and requeues them',
    }),
    maxStalledCount: Type.Integer({
      minimum: 0,
      default: 1,
      description: 'Times a job may stall and be requeued before it is failed',
    }),
  }),
  concurrency: Type.Object({
    total: Type.Integer({
      minimum: 1,
      default: 16,
      description: 'Jobs this worker runs at once, all tasks together (BullMQ worker concurrency)',
    }),
    cdrIndex: Type.Integer({ minimum: 1, default: 16, description: 'cdr.index jobs at once' }),
    blobIngest: Type.Integer({ minimum: 1, default: 4, description: 'blob.ingest jobs at once' }),
    retentionPurge: Type.Integer({
      minimum: 1,
      default: 1,
      description: 'retention.purge jobs at once',
    }),
    searchReindex: Type.Integer({
      minimum: 1,
      default: 1,
      description: 'search.reindex jobs at once',
    }),
  }),
  schedules: Type.Object({
    retentionPurgeEveryMs: Type.Integer({
      minimum: 0,
      default: 3_600_000,
      description:
        'How often retention.purge runs (a BullMQ job scheduler); 0 removes the schedule',
    }),
    retentionPurgeBatchSize: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 500,
      description: 'Blobs and rows retention.purge deletes per batch',
    }),
  }),
  debug: Type.Object({
    stepDelayMs: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'Tests only: pause between the durable steps of cdr.index and blob.ingest, so a fault test can kill the worker mid-task',
    }),
  }),
});

/**
 * The fields each blob driver needs, and the join token once a controller is named; the schema
 * cannot say "required when" by itself.
 */
export const workerRequiredWhen: readonly RequiredWhen[] = [
  { path: 'blob.root', when: 'blob.driver', equals: 'posix' },
  ...(['endpoint', 'region', 'bucket', 'accessKeyId', 'secretAccessKey'] as const).map(
    (key): RequiredWhen => ({ path: `blob.s3.${key}`, when: 'blob.driver', equals: 's3' }),
  ),
  ...controllerRequiredWhen,
];

export type WorkerConfig = ConfigOf<typeof workerConfigSchema>;

/** The worker's part of the configuration reference (`npm run docs`). */
export const workerConfigReference: ConfigReferenceSection = {
  name: 'worker',
  summary:
    "The worker runs the platform's background tasks from a BullMQ queue on Redis: it indexes call detail records, ingests recordings and voicemail from the spool into blob storage, purges what is past its retention and rebuilds the search index.",
  schema: workerConfigSchema,
  requiredWhen: workerRequiredWhen,
};
