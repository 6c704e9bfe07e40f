import { describe, expect, it } from 'vitest';
import { cdrFromRow, cdrValues, isoFromSql, sqlDateTime, upsertCdrSql } from '../src/sql.js';

const full = {
  callId: 'a@b',
  from: 'sip:alice@x',
  to: 'sip:bob@x',
  direction: 'outbound',
  disposition: 'answered',
  start: '2026-11-25T10:00:00.000Z',
  answer: '2026-11-25T10:00:02.500Z',
  end: '2026-11-25T10:01:02.000Z',
  durationSeconds: 62,
  billableSeconds: 59.5,
  pbxNode: 'pbx-1',
  edge: 'edge-a',
  tenant: 'acme',
  sipStatus: 200,
  hangupCause: 'NORMAL_CLEARING',
  sourceIp: '192.0.2.1',
  userAgent: 'Phone/1.0',
  recordingKey: 'rec/a.wav',
} as const;

describe('the cdr table', () => {
  it('writes times as UTC DATETIME(3) and reads them back as ISO instants', () => {
    expect(sqlDateTime('2026-11-25T11:00:00.123+01:00')).toBe('2026-11-25 10:00:00.123');
    expect(isoFromSql('2026-11-25 10:00:00.123')).toBe('2026-11-25T10:00:00.123Z');
    expect(() => sqlDateTime('yesterday')).toThrow(RangeError);
  });

  it('round-trips every field of a CDR through a row', () => {
    const columns = /\(([^)]*)\) VALUES/.exec(upsertCdrSql)?.[1]?.split(', ') ?? [];
    const values = cdrValues(full);
    const row = Object.fromEntries(columns.map((c, i) => [c, values[i]]));
    expect(cdrFromRow(row)).toEqual(full);
  });

  it('leaves absent optional fields out rather than null', () => {
    const minimal = {
      callId: 'c',
      from: 'a',
      to: 'b',
      direction: 'inbound',
      disposition: 'busy',
      start: '2026-11-25T10:00:00.000Z',
      end: '2026-11-25T10:00:01.000Z',
      durationSeconds: 1,
    } as const;
    const columns = /\(([^)]*)\) VALUES/.exec(upsertCdrSql)?.[1]?.split(', ') ?? [];
    const values = cdrValues(minimal);
    expect(cdrFromRow(Object.fromEntries(columns.map((c, i) => [c, values[i]])))).toEqual(minimal);
  });

  it('rewrites the same row when the call id is there already (idempotent upsert)', () => {
    expect(upsertCdrSql).toMatch(
      /^INSERT INTO cdr \(call_id, .*\) ON DUPLICATE KEY UPDATE from_uri = VALUES\(from_uri\), /,
    );
    expect(upsertCdrSql).not.toContain('call_id = VALUES');
  });
});
