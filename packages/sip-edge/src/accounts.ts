// SIP accounts: a SQL table of users with their digest HA1s (never a password), read by the
// edges through the SQL router's replicas and cached briefly in kv. This module must not import
// drachtio-srf: the controller and the CLI load it (through the `./accounts` entry) to manage
// accounts.
import { createHash } from 'node:crypto';
import { Type, type Logger } from '@switchboard/runtime';
import type { Kv, KvRecords, SqlMigrationSet, SqlRouter } from '@switchboard/storage';
import type { SipAccount } from './contracts.js';
import {
  SipAccountNotFoundError,
  SipInvalidAccountError,
  positiveIntegerOption,
} from './errors.js';

/** The digest algorithms the edge offers (RFC 8760's SHA-256 first, MD5 for older phones). */
export type DigestAlgorithm = 'SHA-256' | 'MD5';

/** `H(username:realm:password)` as lowercase hex: the HA1 a digest verifier keeps. */
export function ha1(
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  password: string,
): string {
  const hash = algorithm === 'SHA-256' ? 'sha256' : 'md5';
  return createHash(hash).update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}

/**
 * The sip-edge package's schema: `sip_account`, one row per user of a domain. Only the HA1s are
 * stored, computed with realm = domain, so a leaked table does not give the passwords away (and
 * the realm being the domain is what every phone expects). `username` is `VARBINARY`-like
 * (`utf8mb4_bin`) because SIP user parts are case-sensitive; domains are stored lowercased.
 * Times are UTC `DATETIME(3)`.
 */
export const sipEdgeMigrations: SqlMigrationSet = Object.freeze({
  package: 'sip-edge',
  migrations: Object.freeze([
    {
      id: '0001-create-sip-account',
      up: [
        `CREATE TABLE IF NOT EXISTS sip_account (
          username VARCHAR(64) NOT NULL,
          domain VARCHAR(253) NOT NULL,
          ha1_md5 CHAR(32) NOT NULL,
          ha1_sha256 CHAR(64) NOT NULL,
          enabled TINYINT(1) NOT NULL DEFAULT 1,
          created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
          updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
          PRIMARY KEY (username, domain),
          KEY sip_account_domain (domain)
        ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      ],
    },
  ]),
});

/**
 * A SIP user part the edge accepts: letters, digits and `. _ ~ + -` (RFC 3261 "unreserved" plus
 * `+` for E.164 numbers), 1–64 characters. Narrower than the grammar on purpose: these names go
 * into digest quoted-strings, kv keys and log lines unescaped.
 */
const usernamePattern = /^[A-Za-z0-9+][A-Za-z0-9._~+-]{0,63}$/;
/** A DNS name (or IPv4 literal), lowercase, ≤ 253 characters. */
const domainPattern =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The username, checked; `SWB_SIP_INVALID_ACCOUNT` (field `username`) otherwise. */
export function validateUsername(username: unknown): string {
  if (typeof username !== 'string' || !usernamePattern.test(username)) {
    throw new SipInvalidAccountError(
      'username',
      `must be 1–64 characters of letters, digits and . _ ~ + - (starting with a letter, digit or +), got ${JSON.stringify(username)}`,
    );
  }
  return username;
}

/** The domain, lowercased and checked; `SWB_SIP_INVALID_ACCOUNT` (field `domain`) otherwise. */
export function validateDomain(domain: unknown): string {
  const lower = typeof domain === 'string' ? domain.toLowerCase() : domain;
  if (typeof lower !== 'string' || !domainPattern.test(lower)) {
    throw new SipInvalidAccountError(
      'domain',
      `must be a DNS name such as example.com, got ${JSON.stringify(domain)}`,
    );
  }
  return lower;
}

function validatePassword(password: unknown): string {
  // Never quote the password in the error: it goes to logs and HTTP answers.
  if (typeof password !== 'string' || password.length < 8 || password.length > 256) {
    throw new SipInvalidAccountError('password', 'must be a string of 8–256 characters');
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what it refuses
  if (/[\u0000-\u001f\u007f]/u.test(password)) {
    throw new SipInvalidAccountError('password', 'must not contain control characters');
  }
  return password;
}

/** An account as listed for an administrator: no HA1s. */
export interface SipAccountSummary {
  readonly username: string;
  readonly domain: string;
  readonly enabled: boolean;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export interface AddAccountInput {
  readonly username: string;
  readonly domain: string;
  /** Used to compute the HA1s, then dropped: never stored, never logged. */
  readonly password: string;
  /** Default true. */
  readonly enabled?: boolean;
}

export interface AccountStore {
  /**
   * Creates the account, or replaces its password (and `enabled`) when it exists. Resolves with
   * `created: false` for a replacement.
   */
  add(input: AddAccountInput): Promise<{ readonly created: boolean }>;
  /** `SWB_SIP_ACCOUNT_NOT_FOUND` when there is no such account. */
  setEnabled(username: string, domain: string, enabled: boolean): Promise<void>;
  /** True if the account existed. */
  remove(username: string, domain: string): Promise<boolean>;
  /** Accounts ordered by domain then username, from the primary (an admin wants what they wrote). */
  list(options?: { readonly domain?: string }): Promise<SipAccountSummary[]>;
  /**
   * The account as the edge authenticates it, or undefined: from kv when cached, else from a
   * replica (then cached for `cacheTtlMs`, misses included, so a scanner guessing usernames
   * does not reach SQL on every try).
   */
  get(username: string, domain: string): Promise<SipAccount | undefined>;
}

export interface AccountStoreOptions {
  readonly sql: SqlRouter;
  readonly kv: Kv;
  /** How long a looked-up account (or its absence) is served from kv. Default 5000 ms. */
  readonly cacheTtlMs?: number;
  readonly logger: Logger;
}

const CachedAccount = Type.Object({
  account: Type.Union([
    Type.Null(),
    Type.Object({
      username: Type.String(),
      domain: Type.String(),
      ha1Md5: Type.String(),
      ha1Sha256: Type.String(),
      enabled: Type.Boolean(),
    }),
  ]),
});

function isoFromSql(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return new Date(`${String(value).replace(' ', 'T')}Z`).toISOString();
}

function accountFromRow(row: Readonly<Record<string, unknown>>): SipAccount {
  return {
    username: String(row.username),
    domain: String(row.domain),
    ha1Md5: String(row.ha1_md5),
    ha1Sha256: String(row.ha1_sha256),
    enabled: Number(row.enabled) === 1,
  };
}

function affectedRows(result: unknown): number {
  return Number((result as { affectedRows?: unknown }).affectedRows ?? 0);
}

/**
 * The account store. Cache semantics: `get` fills the cache with `setIfAbsent`, and every write
 * here overwrites the cache entry with the new state (write-through) after its SQL commit. So a
 * lookup racing a write, which read a replica that had not applied it yet, can never overwrite
 * the newer entry; an edge sees a change at once, not after `cacheTtlMs`. Changes made to the
 * table behind the store's back show after at most `cacheTtlMs` (plus replica lag).
 */
export function createAccountStore(options: AccountStoreOptions): AccountStore {
  const { sql, kv } = options;
  const cacheTtlMs = positiveIntegerOption('cacheTtlMs', options.cacheTtlMs ?? 5000);
  const logger = options.logger.child({ component: 'sip-accounts' });
  const cache: KvRecords<{ account: SipAccount | null }> = kv
    .namespace('sip')
    .records('account', { schema: CachedAccount, ttlMs: cacheTtlMs });
  const cacheKey = (username: string, domain: string): string => `${username}@${domain}`;

  async function readPrimary(username: string, domain: string): Promise<SipAccount | undefined> {
    const [rows] = await sql.write(
      'SELECT username, domain, ha1_md5, ha1_sha256, enabled FROM sip_account WHERE username = ? AND domain = ?',
      [username, domain],
    );
    const row = rows[0];
    return row === undefined ? undefined : accountFromRow(row);
  }

  async function writeThrough(username: string, domain: string): Promise<void> {
    const account = await readPrimary(username, domain);
    await cache.set(cacheKey(username, domain), { account: account ?? null });
  }

  return {
    async add(input) {
      const username = validateUsername(input.username);
      const domain = validateDomain(input.domain);
      const password = validatePassword(input.password);
      const enabled = input.enabled ?? true;
      if (typeof enabled !== 'boolean') {
        throw new SipInvalidAccountError('enabled', 'must be a boolean');
      }
      const account: SipAccount = {
        username,
        domain,
        ha1Md5: ha1('MD5', username, domain, password),
        ha1Sha256: ha1('SHA-256', username, domain, password),
        enabled,
      };
      const [result] = await sql.write(
        `INSERT INTO sip_account (username, domain, ha1_md5, ha1_sha256, enabled, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3), CURRENT_TIMESTAMP(3))
         ON DUPLICATE KEY UPDATE ha1_md5 = VALUES(ha1_md5), ha1_sha256 = VALUES(ha1_sha256),
           enabled = VALUES(enabled), updated_at = CURRENT_TIMESTAMP(3)`,
        [username, domain, account.ha1Md5, account.ha1Sha256, enabled ? 1 : 0],
      );
      // MySQL reports 1 for an insert, 2 for an update of an existing row.
      const created = affectedRows(result) === 1;
      await cache.set(cacheKey(username, domain), { account });
      logger.info({ username, domain, enabled, created }, 'SIP account saved');
      return { created };
    },

    async setEnabled(username, domain, enabled) {
      validateUsername(username);
      const lower = validateDomain(domain);
      const [result] = await sql.write(
        'UPDATE sip_account SET enabled = ?, updated_at = CURRENT_TIMESTAMP(3) WHERE username = ? AND domain = ?',
        [enabled ? 1 : 0, username, lower],
      );
      // affectedRows counts matched rows only with CLIENT_FOUND_ROWS; check existence instead.
      if (affectedRows(result) === 0 && (await readPrimary(username, lower)) === undefined) {
        throw new SipAccountNotFoundError(username, lower);
      }
      await writeThrough(username, lower);
      logger.info({ username, domain: lower, enabled }, 'SIP account enabled flag set');
    },

    async remove(username, domain) {
      validateUsername(username);
      const lower = validateDomain(domain);
      const [result] = await sql.write(
        'DELETE FROM sip_account WHERE username = ? AND domain = ?',
        [username, lower],
      );
      await cache.set(cacheKey(username, lower), { account: null });
      const removed = affectedRows(result) > 0;
      if (removed) logger.info({ username, domain: lower }, 'SIP account removed');
      return removed;
    },

    async list(listOptions = {}) {
      const domain =
        listOptions.domain === undefined ? undefined : validateDomain(listOptions.domain);
      const [rows] = await sql.write(
        `SELECT username, domain, enabled, created_at, updated_at FROM sip_account${
          domain === undefined ? '' : ' WHERE domain = ?'
        } ORDER BY domain, username`,
        domain === undefined ? [] : [domain],
      );
      return rows.map((row) => ({
        username: String(row.username),
        domain: String(row.domain),
        enabled: Number(row.enabled) === 1,
        createdAt: isoFromSql(row.created_at),
        updatedAt: isoFromSql(row.updated_at),
      }));
    },

    async get(username, domain) {
      // An invalid name cannot be in the table: no query, no cache entry for garbage.
      if (!usernamePattern.test(username)) return undefined;
      const lower = domain.toLowerCase();
      if (!domainPattern.test(lower)) return undefined;
      const key = cacheKey(username, lower);
      const cached = await cache.get(key);
      if (cached !== undefined) return cached.account ?? undefined;
      const [rows] = await sql.read(
        'SELECT username, domain, ha1_md5, ha1_sha256, enabled FROM sip_account WHERE username = ? AND domain = ?',
        [username, lower],
      );
      const row = rows[0];
      const account = row === undefined ? undefined : accountFromRow(row);
      await cache.setIfAbsent(key, { account: account ?? null });
      return account;
    },
  };
}
