import { describe, expect, it } from 'vitest';
import {
  BusError,
  BusErrorCode,
  BusBufferFullError,
  bridgeRule,
  defaultBridgeJobOptions,
  defaultBridgeRules,
  parseEnvelope,
  planJobs,
  type EventEnvelope,
} from '../src/index.js';
import { cdr } from './fixtures.js';

const envelope = (name: EventEnvelope['name'], payload: unknown): EventEnvelope =>
  ({ name, id: 'e-1', time: '2026-01-01T00:00:00Z', source: 'test', payload }) as EventEnvelope;

describe('bridge rules', () => {
  it('maps call.ended to a cdr.index job keyed by the call id', () => {
    const record = cdr('abc:1');
    expect(planJobs(defaultBridgeRules, envelope('call.ended', { cdr: record }))).toEqual([
      { task: 'cdr.index', payload: { cdr: record }, jobId: 'cdr.index-abc%3A1' },
    ]);
  });

  it('maps recording.ready to a blob.ingest job keyed by the blob key', () => {
    const payload = { spoolPath: 'a.wav', blobKey: 'rec/a.wav', kind: 'recording' };
    expect(planJobs(defaultBridgeRules, envelope('recording.ready', payload))).toEqual([
      { task: 'blob.ingest', payload, jobId: 'blob.ingest-rec%2Fa.wav' },
    ]);
  });

  it('makes no job for an event no rule names', () => {
    expect(
      planJobs(defaultBridgeRules, envelope('node.down', { nodeId: 'n', reason: 'drained' })),
    ).toEqual([]);
  });

  it('refuses a rule whose payload fails its task schema', () => {
    const broken = bridgeRule('call.ended', 'cdr.index', () => ({ cdr: { callId: '' } }) as never);
    expect(() => planJobs([broken], envelope('call.ended', { cdr: cdr('x') }))).toThrow(
      /cdr\.index/,
    );
  });

  it("adds jobs with 5 attempts, the task's own backoff and bounded history", () => {
    expect(defaultBridgeJobOptions).toMatchObject({
      attempts: 5,
      backoff: { type: 'switchboard' },
      removeOnComplete: { count: 10_000 },
      removeOnFail: { count: 50_000 },
    });
  });
});

describe('envelope parsing', () => {
  const accepted = new Set(['call.ended']);
  const parse = (body: string) => parseEnvelope(Buffer.from(body), accepted);

  it('accepts a valid envelope', () => {
    const result = parse(
      JSON.stringify({ name: 'call.ended', id: 'x', payload: { cdr: cdr('1') } }),
    );
    expect(result.ok).toBe(true);
  });

  it.each([
    ['not JSON', '{', /^not JSON/],
    ['an array', '[]', /not an event envelope/],
    ['no name', '{"id":"x"}', /no event name/],
    ['an unknown event', '{"name":"x.y","id":"x"}', /unknown event "x.y"/],
    ['an event the queue does not consume', '{"name":"node.up","id":"x"}', /not one this queue/],
    ['no id', '{"name":"call.ended","payload":{}}', /no id/],
    [
      'a payload failing its schema',
      '{"name":"call.ended","id":"x","payload":{}}',
      /^schema: call.ended/,
    ],
  ])('refuses %s with a reason', (_what, body, reason) => {
    const result = parse(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});

describe('bus errors', () => {
  it('carry stable codes and say whether a retry can help', () => {
    const full = new BusBufferFullError({ messages: 1, bytes: 2 });
    expect(full).toBeInstanceOf(BusError);
    expect(full.code).toBe(BusErrorCode.BufferFull);
    expect(full.retryable).toBe(true);
    expect(full.toJSON()).toMatchObject({ code: 'SWB_BUS_BUFFER_FULL', retryable: true });
  });
});
