import { createSqlRouter } from '@switchboard/storage';

/** The daemons' `sql` configuration: `SWB_SQL_PRIMARY` and `SWB_SQL_REPLICAS`. */
export interface SqlConfig {
  readonly primary: string;
  readonly replicas: readonly string[];
}

export async function accountsExample(sql: SqlConfig): Promise<string[]> {
  // Before: const db = mysql.createPool(sql.primary);
  const db = createSqlRouter({ primary: sql.primary, replicas: sql.replicas });
  try {
    // DDL and writes go to the primary; the same calls as on a mysql2 pool.
    await db.query('CREATE TABLE accounts (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64))');
    // One request: inside withContext, a read follows the request's own writes (causal reads).
    return await db.withContext(async () => {
      await db.execute('INSERT INTO accounts (name) VALUES (?)', ['alice']);
      const [rows] = await db.execute(
        'SELECT name FROM accounts WHERE name = ?', // a replica serves it, once it has the row
        ['alice'],
      );
      return rows.map((row) => String(row.name));
    });
  } finally {
    await db.end();
  }
}
