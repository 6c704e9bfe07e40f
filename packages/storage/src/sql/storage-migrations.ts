import type { SqlMigrationSet } from './migrations.js';

/**
 * The storage package's own tables. None yet: blob metadata and the other owners (CDRs, SIP
 * accounts, controller inventory) add their sets with their issues.
 */
export const storageMigrations: SqlMigrationSet = { package: 'storage', migrations: [] };
