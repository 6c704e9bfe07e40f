import type { Cdr } from '@switchboard/queue';
import type { SqlMigrationSet } from '@switchboard/storage';

/**
 * The worker's tables: `cdr` (one row per call, keyed by call id) and `blob_object` (the metadata
 * of every blob the worker ingested, keyed by blob key, with its retention). The blob key is
 * `VARBINARY(1024)`: keys are up to 1024 UTF-8 bytes, and a utf8mb4 `VARCHAR` that long cannot
 * be a whole-value primary key in InnoDB (a prefix key would not be unique). Times are UTC
 * `DATETIME(3)`; the router's pools run with `timezone: 'Z'` and `dateStrings`, so no local time
 * zone ever shifts them.
 */
export const workerMigrations: SqlMigrationSet = Object.freeze({
  package: 'worker',
  migrations: Object.freeze([
    {
      id: '0001-create-cdr',
      up: [
        `CREATE TABLE IF NOT EXISTS cdr (
          call_id VARCHAR(255) NOT NULL,
          from_uri VARCHAR(512) NOT NULL,
          to_uri VARCHAR(512) NOT NULL,
          direction VARCHAR(16) NOT NULL,
          disposition VARCHAR(16) NOT NULL,
          start_time DATETIME(3) NOT NULL,
          answer_time DATETIME(3) NULL,
          end_time DATETIME(3) NOT NULL,
          duration_seconds DOUBLE NOT NULL,
          billable_seconds DOUBLE NULL,
          pbx_node VARCHAR(128) NULL,
          edge VARCHAR(128) NULL,
          tenant VARCHAR(128) NULL,
          sip_status SMALLINT NULL,
          hangup_cause VARCHAR(255) NULL,
          source_ip VARCHAR(64) NULL,
          user_agent VARCHAR(512) NULL,
          recording_key VARCHAR(1024) NULL,
          stored_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
          PRIMARY KEY (call_id),
          KEY cdr_start (start_time)
        ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      ],
    },
    {
      id: '0002-create-blob-object',
      up: [
        `CREATE TABLE IF NOT EXISTS blob_object (
          blob_key VARBINARY(1024) NOT NULL,
          size BIGINT UNSIGNED NOT NULL,
          sha256 CHAR(64) NOT NULL,
          kind VARCHAR(16) NOT NULL,
          call_id VARCHAR(255) NULL,
          content_type VARCHAR(255) NULL,
          created_at DATETIME(3) NOT NULL,
          expires_at DATETIME(3) NULL,
          PRIMARY KEY (blob_key),
          KEY blob_object_expires (expires_at),
          KEY blob_object_call (call_id)
        ) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      ],
    },
  ]),
});

/** A UTC `DATETIME(3)` literal of an instant: `2026-11-25 10:00:00.000`. */
export function sqlDateTime(value: string | number | Date): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a date: ${String(value)}`);
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

/** The ISO 8601 instant of a `DATETIME(3)` read with `dateStrings` (UTC). */
export function isoFromSql(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return new Date(`${String(value).replace(' ', 'T')}Z`).toISOString();
}

const cdrColumns = [
  'call_id',
  'from_uri',
  'to_uri',
  'direction',
  'disposition',
  'start_time',
  'answer_time',
  'end_time',
  'duration_seconds',
  'billable_seconds',
  'pbx_node',
  'edge',
  'tenant',
  'sip_status',
  'hangup_cause',
  'source_ip',
  'user_agent',
  'recording_key',
] as const;

/**
 * Inserts a CDR, or rewrites the same row when the call id is there already: running the job
 * twice leaves one row with the same content. Not `INSERT IGNORE`, which would also turn a
 * truncated or invalid value into a silent warning.
 */
export const upsertCdrSql = `INSERT INTO cdr (${cdrColumns.join(', ')}) VALUES (${cdrColumns
  .map(() => '?')
  .join(', ')}) ON DUPLICATE KEY UPDATE ${cdrColumns
  .slice(1)
  .map((c) => `${c} = VALUES(${c})`)
  .join(', ')}`;

export function cdrValues(cdr: Cdr): (string | number | null)[] {
  return [
    cdr.callId,
    cdr.from,
    cdr.to,
    cdr.direction,
    cdr.disposition,
    sqlDateTime(cdr.start),
    cdr.answer === undefined ? null : sqlDateTime(cdr.answer),
    sqlDateTime(cdr.end),
    cdr.durationSeconds,
    cdr.billableSeconds ?? null,
    cdr.pbxNode ?? null,
    cdr.edge ?? null,
    cdr.tenant ?? null,
    cdr.sipStatus ?? null,
    cdr.hangupCause ?? null,
    cdr.sourceIp ?? null,
    cdr.userAgent ?? null,
    cdr.recordingKey ?? null,
  ];
}

export const selectCdrColumns = cdrColumns.join(', ');

/** A `cdr` row (selected with `selectCdrColumns`) as the catalogue's CDR. */
export function cdrFromRow(row: Readonly<Record<string, unknown>>): Cdr {
  // The optional columns are spread in only when set: the catalogue's CDR has no nulls.
  const optional = (key: string, value: unknown): Record<string, unknown> =>
    value === null || value === undefined ? {} : { [key]: value };
  return {
    callId: String(row.call_id),
    from: String(row.from_uri),
    to: String(row.to_uri),
    direction: String(row.direction) as Cdr['direction'],
    disposition: String(row.disposition) as Cdr['disposition'],
    start: isoFromSql(row.start_time),
    ...optional('answer', row.answer_time === null ? null : isoFromSql(row.answer_time)),
    end: isoFromSql(row.end_time),
    durationSeconds: Number(row.duration_seconds),
    ...optional(
      'billableSeconds',
      row.billable_seconds === null ? null : Number(row.billable_seconds),
    ),
    ...optional('pbxNode', row.pbx_node),
    ...optional('edge', row.edge),
    ...optional('tenant', row.tenant),
    ...optional('sipStatus', row.sip_status === null ? null : Number(row.sip_status)),
    ...optional('hangupCause', row.hangup_cause),
    ...optional('sourceIp', row.source_ip),
    ...optional('userAgent', row.user_agent),
    ...optional('recordingKey', row.recording_key),
  };
}

/** A blob key as read back from `VARBINARY`. */
export function blobKeyFromSql(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}
