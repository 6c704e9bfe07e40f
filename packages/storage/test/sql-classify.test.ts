import { describe, expect, it } from 'vitest';
import { StatementRoute, classifyStatement, createStatementClassifier } from '../src/index.js';

const R = StatementRoute.Read;
const W = StatementRoute.Write;

const table: readonly (readonly [string, StatementRoute])[] = [
  // Plain reads
  ['SELECT 1', R],
  ['select * from users where id = ?', R],
  ['  \n\t SELECT id FROM t', R],
  ['SELECT a FROM t WHERE b = 1;', R],
  ['SELECT a FROM t;  -- trailing comment', R],
  ['(SELECT a FROM t) UNION (SELECT b FROM u)', R],
  ['((SELECT 1))', R],
  ['SHOW TABLES', R],
  ['SHOW CREATE TABLE t', R],
  ['DESCRIBE t', R],
  ['DESC t', R],
  ['EXPLAIN SELECT * FROM t', R],
  ['TABLE t', R],
  ['VALUES (1), (2)', R],
  ['WITH c AS (SELECT 1 AS x) SELECT x FROM c', R],
  [
    'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r',
    R,
  ],
  ['SELECT REPLACE(name, "a", "b") FROM t', R],
  ['SELECT SLEEP(0)', R],
  ['SELECT NOW(), UUID()', R],
  // Strings, identifiers and comments that look like writes do not count
  ["SELECT 'INSERT INTO t VALUES (1)' AS s", R],
  ['SELECT "for update" FROM t', R],
  ['SELECT `update`, `delete` FROM t', R],
  ["SELECT 'it''s; DROP TABLE t' FROM t", R],
  ["SELECT 'a\\'; DELETE FROM t; --' FROM t", R],
  ['SELECT 1 /* ; DELETE FROM t */', R],
  ['-- a comment\nSELECT 1', R],
  ['# a comment\nSELECT 1', R],
  ['/* leading */ SELECT 1', R],
  ['/*+ MAX_EXECUTION_TIME(1000) */ SELECT 1', R],
  ['SELECT /*+ INDEX(t idx) */ a FROM t', R],
  ['SELECT update_count, deleted_at, insert_time FROM t', R],
  // Locking reads and SELECT … INTO
  ['SELECT * FROM t WHERE id = 1 FOR UPDATE', W],
  ['select * from t for update nowait', W],
  ['SELECT * FROM t FOR SHARE', W],
  ['SELECT * FROM t LOCK IN SHARE MODE', W],
  ['SELECT a INTO @v FROM t', W],
  ["SELECT a FROM t INTO OUTFILE '/tmp/x'", W],
  ["SELECT a FROM t INTO DUMPFILE '/tmp/x'", W],
  ['(SELECT a FROM t FOR UPDATE)', W],
  ['WITH c AS (SELECT 1) SELECT * FROM c FOR UPDATE', W],
  // Side-effect and session-dependent functions
  ["SELECT GET_LOCK('x', 1)", W],
  ["SELECT release_lock('x')", W],
  ['SELECT RELEASE_ALL_LOCKS()', W],
  ["SELECT IS_FREE_LOCK('x')", W],
  ['SELECT NEXTVAL(s)', W],
  ['SELECT NEXT VALUE FOR s', W],
  ['SELECT PREVIOUS VALUE FOR s', W],
  ['SELECT LASTVAL(s)', W],
  ['SELECT SETVAL(s, 10)', W],
  ['SELECT LAST_INSERT_ID()', W],
  ['SELECT ROW_COUNT()', W],
  ['SELECT FOUND_ROWS()', W],
  ["SELECT MASTER_GTID_WAIT('0-1-1', 1)", W],
  ['SELECT @a := 1', W],
  ['SELECT last_insert_id ()', W],
  // Writes and everything else
  ['INSERT INTO t VALUES (1)', W],
  ['insert into t select * from u', W],
  ['UPDATE t SET a = 1', W],
  ['DELETE FROM t', W],
  ['REPLACE INTO t VALUES (1)', W],
  ['CREATE TABLE t (id INT)', W],
  ['DROP TABLE t', W],
  ['ALTER TABLE t ADD c INT', W],
  ['TRUNCATE t', W],
  ['SET @a = 1', W],
  ['SET NAMES utf8mb4', W],
  ['BEGIN', W],
  ['START TRANSACTION', W],
  ['COMMIT', W],
  ['CALL proc()', W],
  ['DO SLEEP(1)', W],
  ['LOCK TABLES t READ', W],
  ['HANDLER t OPEN', W],
  ['ANALYZE TABLE t', W],
  ['ANALYZE SELECT * FROM t', W],
  ['EXPLAIN ANALYZE SELECT * FROM t', W],
  ['LOAD DATA INFILE "x" INTO TABLE t', W],
  ['WITH c AS (SELECT 1 AS id) UPDATE t JOIN c USING (id) SET t.a = 1', W],
  ['WITH c AS (SELECT 1 AS id) DELETE t FROM t JOIN c USING (id)', W],
  ['WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c', W],
  // Multi-statements
  ['SELECT 1; SELECT 2', W],
  ['SELECT 1; DELETE FROM t', W],
  ['SELECT 1;DROP TABLE t;', W],
  // Versioned comments are code the server runs
  ['/*!50000 SELECT */ 1', R],
  ['SELECT 1 /*!50000 FOR UPDATE */', W],
  ['/*!40101 SET NAMES utf8 */', W],
  ['/*M!100100 SELECT 1 FOR UPDATE */', W],
  ['SELECT * FROM t /*!80000 FOR SHARE */', W],
  // Unreadable input goes to the primary
  ['', W],
  ['   ', W],
  ['-- only a comment', W],
  ['SELECT 1 /* unterminated', W],
  ["SELECT 'unterminated", W],
  ['(', W],
];

describe('the statement classifier', () => {
  it.each(table)('routes %j to the %s side', (sql, route) => {
    expect(classifyStatement(sql)).toBe(route);
  });

  it('answers from its cache for a repeated statement and stays bounded', () => {
    const classify = createStatementClassifier(4);
    for (let i = 0; i < 20; i++) expect(classify(`SELECT ${i}`)).toBe(R);
    expect(classify('SELECT 1 FOR UPDATE')).toBe(W);
    expect(classify('SELECT 1 FOR UPDATE')).toBe(W);
  });
});
