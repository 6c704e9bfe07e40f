import { Type, sqlConfigSchema, type ConfigReferenceSection } from '@switchboard/runtime';

/**
 * The configuration of `switchboard-migrate` (`npm run migrate`): the SQL primary and nothing
 * else, since migrations are applied there only; a replica list would be validated and documented
 * for a command that never reads it.
 */
export const migrateConfigSchema = Type.Object({
  sql: Type.Object({ primary: sqlConfigSchema().properties.primary }),
});

/** The migrate command's part of the configuration reference (`npm run docs`). */
export const migrateConfigReference: ConfigReferenceSection = {
  name: 'switchboard-migrate',
  summary:
    'The migrate command (npm run migrate, or the switchboard-migrate bin) applies the schema migrations to the SQL primary, in order and once each, under a lock, and exits.',
  schema: migrateConfigSchema,
};
