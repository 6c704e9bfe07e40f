import { createHash } from 'node:crypto';
import type { Logger } from '@switchboard/runtime';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { SqlConfigError, SqlMigrationError, SqlMigrationLockedError } from './errors.js';

/** One schema change. Applied once, in order, and recorded by `(package, id)`. */
export interface SqlMigration {
  /** Unique within its package and increasing in the list, e.g. `0001-create-cdrs`. */
  readonly id: string;
  /**
   * Statements run in order on one primary connection, or a function for changes that need
   * logic. MariaDB commits DDL implicitly, so keep one change per migration: a failure then
   * leaves the earlier ones applied and this one not recorded, to be fixed and run again.
   */
  readonly up: readonly string[] | ((connection: PoolConnection) => Promise<void>);
}

/** The migrations of one package that owns tables (CDRs, blob metadata, SIP accounts, …). */
export interface SqlMigrationSet {
  readonly package: string;
  readonly migrations: readonly SqlMigration[];
}

export interface MigrateOptions {
  /** The table that records applied migrations; default `swb_schema_migrations`. */
  readonly table?: string;
  /** How long to wait for another process's run to finish (GET_LOCK); default 60 s. */
  readonly lockTimeoutSeconds?: number;
  readonly logger?: Logger;
}

export interface MigrateResult {
  /** `package/id` of each migration applied by this run, in order. */
  readonly applied: readonly string[];
  /** How many were already applied. */
  readonly skipped: number;
}

/** Whatever gives a primary connection: a SqlRouter, or a mysql2 promise pool. */
export interface PrimaryConnectionSource {
  getConnection(): Promise<PoolConnection>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function checksumOf(migration: SqlMigration): string {
  const text =
    typeof migration.up === 'function' ? migration.up.toString() : migration.up.join(';\n');
  return createHash('sha256').update(text).digest('hex');
}

function validate(sets: readonly SqlMigrationSet[]): void {
  for (const [s, set] of sets.entries()) {
    if (set.package === '') throw new SqlConfigError(`sets[${s}].package`, 'must not be empty');
    let previous = '';
    for (const [m, migration] of set.migrations.entries()) {
      if (migration.id <= previous) {
        throw new SqlConfigError(
          `sets[${s}].migrations[${m}].id`,
          `${JSON.stringify(migration.id)} must sort after ${JSON.stringify(previous)}`,
        );
      }
      previous = migration.id;
    }
  }
}

/**
 * Applies every set's pending migrations to the primary, set by set and in order, idempotently:
 * a table records what ran, and a named lock (GET_LOCK) makes a second process wait for the first
 * instead of running the same DDL at the same time.
 */
export async function migrate(
  source: PrimaryConnectionSource,
  sets: readonly SqlMigrationSet[],
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const table = options.table ?? 'swb_schema_migrations';
  if (!IDENTIFIER.test(table))
    throw new SqlConfigError('table', `not a plain identifier: ${table}`);
  validate(sets);
  const connection = await source.getConnection();
  try {
    const [[schema]] = await connection.query<RowDataPacket[]>('SELECT DATABASE() AS db');
    const database: unknown = schema?.db;
    if (typeof database !== 'string' || database === '') {
      throw new SqlConfigError(
        'primary',
        'the connection has no database selected: name it in the URI path (mysql://…/switchboard)',
      );
    }
    const lock = `swb_migrate:${database}`.slice(0, 64);
    const [[locked]] = await connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS ok', [
      lock,
      options.lockTimeoutSeconds ?? 60,
    ]);
    if (Number(locked?.ok) !== 1) {
      throw new SqlMigrationLockedError(`another process holds the migration lock ${lock}`);
    }
    try {
      return await applyPending(connection, table, sets, options.logger);
    } finally {
      await connection.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  } finally {
    connection.release();
  }
}

async function applyPending(
  connection: PoolConnection,
  table: string,
  sets: readonly SqlMigrationSet[],
  logger: Logger | undefined,
): Promise<MigrateResult> {
  await connection.query(
    `CREATE TABLE IF NOT EXISTS \`${table}\` (
      package VARCHAR(100) NOT NULL,
      id VARCHAR(200) NOT NULL,
      checksum CHAR(64) NOT NULL,
      applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (package, id)
    )`,
  );
  const [rows] = await connection.query<RowDataPacket[]>(
    `SELECT package, id, checksum FROM \`${table}\``,
  );
  const done = new Map(
    rows.map((r) => [`${String(r.package)}/${String(r.id)}`, String(r.checksum)]),
  );
  const applied: string[] = [];
  let skipped = 0;
  for (const set of sets) {
    for (const migration of set.migrations) {
      const key = `${set.package}/${migration.id}`;
      const checksum = checksumOf(migration);
      const recorded = done.get(key);
      if (recorded !== undefined) {
        skipped++;
        if (recorded !== checksum) {
          // Editing an applied migration changes nothing in the database; say so.
          logger?.warn({ migration: key }, 'an applied migration has changed since it ran');
        }
        continue;
      }
      try {
        if (typeof migration.up === 'function') {
          await migration.up(connection);
        } else {
          for (const statement of migration.up) await connection.query(statement);
        }
      } catch (error) {
        throw new SqlMigrationError(key, `migration ${key} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await connection.query(`INSERT INTO \`${table}\` (package, id, checksum) VALUES (?, ?, ?)`, [
        set.package,
        migration.id,
        checksum,
      ]);
      logger?.info({ migration: key }, 'migration applied');
      applied.push(key);
    }
  }
  return { applied, skipped };
}
