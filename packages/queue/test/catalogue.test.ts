import { describe, expect, it } from 'vitest';
import {
  checkEvent,
  checkJob,
  eventNames,
  jobIdFor,
  taskNames,
  type Cdr,
} from '../src/catalogue/index.js';

const cdr: Cdr = {
  callId: 'c-1@edge',
  from: 'sip:alice@example.test',
  to: 'sip:bob@example.test',
  direction: 'internal',
  disposition: 'answered',
  start: '2026-11-25T10:00:00.000Z',
  answer: '2026-11-25T10:00:03.000Z',
  end: '2026-11-25T10:01:00.000Z',
  durationSeconds: 60,
  billableSeconds: 57,
};

describe('the event catalogue', () => {
  it('names the events the roles share', () => {
    expect([...eventNames].sort()).toEqual([
      'call.ended',
      'call.started',
      'job.completed',
      'job.failed',
      'node.down',
      'node.up',
      'recording.ready',
      'topology.changed',
    ]);
  });

  it('accepts a valid call.ended and returns its payload', () => {
    const checked = checkEvent('call.ended', { cdr });
    expect(checked).toEqual({ ok: true, value: { cdr } });
  });

  it('refuses a bad CDR and says where', () => {
    const reason = (value: unknown): string => {
      const checked = checkEvent('call.ended', { cdr: value });
      return checked.ok ? '' : checked.reason;
    };
    expect(reason({ ...cdr, start: 'yesterday' })).toBe(
      'call.ended: /cdr/start: must match format "date-time"',
    );
    expect(reason({ ...cdr, disposition: 'hung' })).toMatch(/^call\.ended: \/cdr\/disposition/);
    expect(reason({ ...cdr, extra: 1 })).toMatch(/^call\.ended: \/cdr\/extra/);
    expect(reason({ ...cdr, callId: undefined })).toMatch(/callId/);
  });

  it('refuses a recording path that climbs out of the spool', () => {
    const base = { blobKey: 'rec/1.wav', kind: 'recording' };
    expect(checkEvent('recording.ready', { ...base, spoolPath: 'a/1.wav' }).ok).toBe(true);
    expect(checkEvent('recording.ready', { ...base, spoolPath: '../etc/passwd' }).ok).toBe(false);
    expect(checkEvent('recording.ready', { ...base, spoolPath: 'a/../../x' }).ok).toBe(false);
    expect(checkEvent('recording.ready', { ...base, spoolPath: '/etc/passwd' }).ok).toBe(false);
  });
});

describe('the task catalogue', () => {
  it('names the platform tasks', () => {
    expect([...taskNames].sort()).toEqual([
      'blob.ingest',
      'cdr.index',
      'retention.purge',
      'search.reindex',
    ]);
  });

  it('checks payloads', () => {
    expect(checkJob('cdr.index', { cdr }).ok).toBe(true);
    expect(checkJob('retention.purge', {}).ok).toBe(true);
    const bad = checkJob('retention.purge', { batchSize: 0 });
    expect(bad.ok ? '' : bad.reason).toMatch(/retention\.purge: \/batchSize/);
  });

  it('gives work with a natural key a stable job id BullMQ accepts', () => {
    expect(jobIdFor('cdr.index', { cdr: { ...cdr, callId: 'a:b@edge' } })).toBe(
      'cdr.index-a%3Ab%40edge',
    );
    expect(
      jobIdFor('blob.ingest', { spoolPath: 'x.wav', blobKey: 'rec/x.wav', kind: 'recording' }),
    ).toBe('blob.ingest-rec%2Fx.wav');
    expect(jobIdFor('retention.purge', {})).toBeUndefined();
  });
});
