/**
 * Decides whether a statement may run on a replica. The rule is one-sided on purpose: a statement
 * goes to a replica only when it certainly does not write (or take locks, or change session state
 * that a later statement on the primary would expect); anything unknown goes to the primary, where
 * it is always correct, only less spread out.
 */
export const StatementRoute = {
  /** Certainly read-only: a replica may serve it. */
  Read: 'read',
  /** Writes, locks, has side effects, or could not be proven read-only: the primary. */
  Write: 'write',
} as const;
export type StatementRoute = (typeof StatementRoute)[keyof typeof StatementRoute];

/** Statements that only read, when nothing after them says otherwise. */
const readStarts: ReadonlySet<string> = new Set([
  'SELECT',
  'WITH',
  'SHOW',
  'DESCRIBE',
  'DESC',
  'EXPLAIN',
  'TABLE',
  'VALUES',
]);

/**
 * Functions with side effects, or whose answer depends on the session or server that ran the
 * previous statement: a replica would answer them wrongly. SLEEP is absent on purpose: it
 * neither writes nor depends on the primary.
 */
const sideEffectFunctions: ReadonlySet<string> = new Set([
  'GET_LOCK',
  'RELEASE_LOCK',
  'RELEASE_ALL_LOCKS',
  'IS_FREE_LOCK',
  'IS_USED_LOCK',
  'NEXTVAL',
  'LASTVAL',
  'SETVAL',
  'LAST_INSERT_ID',
  'ROW_COUNT',
  'FOUND_ROWS',
  'MASTER_POS_WAIT',
  'MASTER_GTID_WAIT',
  'WAIT_FOR_EXECUTED_GTID_SET',
  'SOURCE_POS_WAIT',
  'GET_FORMAT_LOCK',
]);

/** Keywords that, at any depth inside a SELECT or WITH, make it a write or a locking read. */
const writeInside: ReadonlySet<string> = new Set(['INTO', 'INSERT', 'UPDATE', 'DELETE']);

interface Token {
  /** Upper-cased word, or a single punctuation character, or `:=`. */
  readonly text: string;
  /** Parenthesis depth where the token starts. */
  readonly depth: number;
}

function isWordChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    (code >= 65 && code <= 90) || // A-Z
    (code >= 97 && code <= 122) || // a-z
    code === 95 || // _
    code === 36 || // $
    code >= 128
  );
}

/**
 * Splits the statement into words and punctuation, skipping strings, quoted identifiers,
 * comments and optimizer hints. A MySQL versioned comment (`/*!50000 … *\/`) is code the server
 * runs, so its content is tokenized as such. Returns undefined on input it cannot read (an
 * unterminated comment or string): the caller then sends the statement to the primary.
 */
function tokenize(sql: string): Token[] | undefined {
  const tokens: Token[] = [];
  const length = sql.length;
  let depth = 0;
  let i = 0;
  while (i < length) {
    const code = sql.charCodeAt(i);
    const ch = sql[i];
    if (code <= 32) {
      i++;
    } else if (
      ch === '-' &&
      sql[i + 1] === '-' &&
      (i + 2 >= length || sql.charCodeAt(i + 2) <= 32)
    ) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? length : end + 1;
    } else if (ch === '#') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? length : end + 1;
    } else if (ch === '/' && sql[i + 1] === '*') {
      if (sql[i + 2] === '!') {
        // Versioned comment: skip the marker and the version digits, keep the content; the
        // closing `*/` is skipped where it appears below.
        i += 3;
        while (i < length && sql.charCodeAt(i) >= 48 && sql.charCodeAt(i) <= 57) i++;
        // MariaDB also accepts `/*M!100100 … */`.
      } else if (sql[i + 2] === 'M' && sql[i + 3] === '!') {
        i += 4;
        while (i < length && sql.charCodeAt(i) >= 48 && sql.charCodeAt(i) <= 57) i++;
      } else {
        const end = sql.indexOf('*/', i + 2);
        if (end === -1) return undefined;
        i = end + 2;
      }
    } else if (ch === '*' && sql[i + 1] === '/') {
      // The end of a versioned comment whose content we kept.
      i += 2;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      for (;;) {
        if (j >= length) return undefined;
        const c = sql[j];
        if (c === '\\' && ch !== '`') {
          j += 2;
        } else if (c === ch) {
          if (sql[j + 1] === ch) j += 2;
          else break;
        } else {
          j++;
        }
      }
      // A quoted value or identifier: only its presence matters.
      tokens.push({ text: ch === '`' ? 'IDENT' : 'STRING', depth });
      i = j + 1;
    } else if (isWordChar(code)) {
      let j = i + 1;
      while (j < length && isWordChar(sql.charCodeAt(j))) j++;
      tokens.push({ text: sql.slice(i, j).toUpperCase(), depth });
      i = j;
    } else if (ch === ':' && sql[i + 1] === '=') {
      tokens.push({ text: ':=', depth });
      i += 2;
    } else {
      if (ch === '(') {
        tokens.push({ text: '(', depth });
        depth++;
      } else if (ch === ')') {
        depth = Math.max(0, depth - 1);
        tokens.push({ text: ')', depth });
      } else {
        tokens.push({ text: ch ?? '', depth });
      }
      i++;
    }
  }
  return tokens;
}

function classifyTokens(tokens: readonly Token[]): StatementRoute {
  // Leading parentheses: `(SELECT …) UNION (SELECT …)`.
  let start = 0;
  while (tokens[start]?.text === '(') start++;
  // Trailing semicolons (and the comments after them, already gone) are harmless; anything
  // after a semicolon is a second statement, which may write.
  let end = tokens.length;
  while (end > start && tokens[end - 1]?.text === ';') end--;
  const first = tokens[start]?.text;
  if (first === undefined || !readStarts.has(first)) return StatementRoute.Write;
  if (first === 'EXPLAIN' || first === 'DESCRIBE' || first === 'DESC') {
    // `EXPLAIN ANALYZE` (MySQL) and `ANALYZE` (MariaDB) run the statement; the primary is safe.
    const next = tokens[start + 1]?.text;
    if (next === 'ANALYZE') return StatementRoute.Write;
  }
  for (let k = start; k < end; k++) {
    const token = tokens[k];
    if (token === undefined) break;
    const text = token.text;
    if (text === ';' || text === ':=') return StatementRoute.Write;
    if (writeInside.has(text)) return StatementRoute.Write;
    if (text === 'REPLACE' && tokens[k + 1]?.text !== '(') return StatementRoute.Write;
    if (text === 'FOR') {
      const next = tokens[k + 1]?.text;
      if (next === 'UPDATE' || next === 'SHARE') return StatementRoute.Write;
    }
    if (text === 'LOCK' && tokens[k + 1]?.text === 'IN') return StatementRoute.Write;
    if (text === 'NEXT' && tokens[k + 1]?.text === 'VALUE') return StatementRoute.Write;
    if (text === 'PREVIOUS' && tokens[k + 1]?.text === 'VALUE') return StatementRoute.Write;
    if (sideEffectFunctions.has(text) && tokens[k + 1]?.text === '(') return StatementRoute.Write;
  }
  return StatementRoute.Read;
}

/** Classifies one statement (or a multi-statement string) without caching. */
export function classifyStatement(sql: string): StatementRoute {
  const tokens = tokenize(sql);
  return tokens === undefined ? StatementRoute.Write : classifyTokens(tokens);
}

/**
 * A classifier with a bounded cache: applications send the same few hundred statements with
 * `?` placeholders over and over, so the hot path is one Map lookup. When the cache fills (an
 * application that inlines values), it starts over rather than tracking recency per hit.
 */
export function createStatementClassifier(
  maxEntries = 2048,
  maxLength = 4096,
): (sql: string) => StatementRoute {
  const cache = new Map<string, StatementRoute>();
  return (sql) => {
    const cached = cache.get(sql);
    if (cached !== undefined) return cached;
    const route = classifyStatement(sql);
    if (sql.length <= maxLength) {
      if (cache.size >= maxEntries) cache.clear();
      cache.set(sql, route);
    }
    return route;
  };
}
