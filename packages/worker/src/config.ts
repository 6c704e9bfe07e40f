import {
  SecretString,
  Type,
  UriString,
  daemonConfigProperties,
  redisConfigSchema,
  sqlConfigSchema,
  type ConfigOf,
  type RequiredWhen,
} from '@switchboard/runtime';

export const workerOpsPort = 9402;

/** The worker's configuration; each field's variable is `SWB_` + its path in UPPER_SNAKE. */
export const workerConfigSchema = Type.Object({
  ...daemonConfigProperties(workerOpsPort),
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
      region: Type.Optional(Type.String({ minLength: 1 })),
      bucket: Type.Optional(Type.String({ minLength: 1 })),
      accessKeyId: Type.Optional(Type.String({ minLength: 1 })),
      secretAccessKey: Type.Optional(SecretString({ minLength: 1 })),
      forcePathStyle: Type.Boolean({
        default: false,
        description: 'Path-style bucket addressing (most S3-compatible servers need it)',
      }),
    }),
  }),
});

/** The fields each blob driver needs; the schema cannot say "required when" by itself. */
export const workerRequiredWhen: readonly RequiredWhen[] = [
  { path: 'blob.root', when: 'blob.driver', equals: 'posix' },
  ...(['endpoint', 'region', 'bucket', 'accessKeyId', 'secretAccessKey'] as const).map(
    (key): RequiredWhen => ({ path: `blob.s3.${key}`, when: 'blob.driver', equals: 's3' }),
  ),
];

export type WorkerConfig = ConfigOf<typeof workerConfigSchema>;
