import { checkEvent, type Cdr, type EventPayload } from '@switchboard/queue';
import { describe, expect, it } from 'vitest';
import {
  createCallTracker,
  dispositionFor,
  type CallEventName,
  type CallInfo,
  type PublishCallEvent,
} from '../src/index.js';
import { captureLogger, manualClock } from './invite-fixtures.js';

interface Published {
  readonly name: CallEventName;
  readonly payload: unknown;
}

function tracker(publishImpl?: PublishCallEvent) {
  const clock = manualClock();
  const published: Published[] = [];
  const { logger, lines } = captureLogger();
  const publish: PublishCallEvent =
    publishImpl ??
    ((name, payload) => {
      published.push({ name, payload });
      return Promise.resolve();
    });
  const calls = createCallTracker({ publish, edgeId: 'edge-1', clock, logger });
  return { calls, clock, published, lines };
}

const info: CallInfo = {
  callId: 'abc@192.0.2.10',
  from: 'sip:alice@example.com',
  to: 'sip:+15551234@example.com',
  direction: 'outbound',
  sourceIp: '192.0.2.10',
  userAgent: 'TestPhone/1.0',
};

function cdrOf(published: Published[]): Cdr {
  const ended = published.find((event) => event.name === 'call.ended');
  if (ended === undefined) throw new Error('no call.ended published');
  return (ended.payload as EventPayload<'call.ended'>).cdr;
}

describe('createCallTracker', () => {
  it('publishes call.started on answer and call.ended with the full CDR at the end', async () => {
    const { calls, clock, published } = tracker();
    const call = calls.begin(info);
    expect(calls.active).toBe(1);
    call.routedTo('pbx-2');
    clock.advance(4_000);
    call.answered();
    clock.advance(61_500);
    call.ended({ hangupCause: 'caller-bye' });
    await calls.flush();

    expect(published.map((event) => event.name)).toEqual(['call.started', 'call.ended']);
    expect(published[0]?.payload).toEqual({
      callId: 'abc@192.0.2.10',
      from: 'sip:alice@example.com',
      to: 'sip:+15551234@example.com',
      direction: 'outbound',
      start: '2025-01-01T12:00:00.000Z',
      pbxNode: 'pbx-2',
      edge: 'edge-1',
    });
    expect(cdrOf(published)).toEqual({
      callId: 'abc@192.0.2.10',
      from: 'sip:alice@example.com',
      to: 'sip:+15551234@example.com',
      direction: 'outbound',
      disposition: 'answered',
      start: '2025-01-01T12:00:00.000Z',
      answer: '2025-01-01T12:00:04.000Z',
      end: '2025-01-01T12:01:05.500Z',
      durationSeconds: 65.5,
      billableSeconds: 61.5,
      pbxNode: 'pbx-2',
      edge: 'edge-1',
      sipStatus: 200,
      hangupCause: 'caller-bye',
      sourceIp: '192.0.2.10',
      userAgent: 'TestPhone/1.0',
    });
    expect(calls.active).toBe(0);
  });

  it('builds events the bus accepts', async () => {
    const { calls, published } = tracker();
    const call = calls.begin(info);
    call.routedTo('pbx-1');
    call.answered();
    call.ended();
    await calls.flush();
    for (const event of published) {
      expect(checkEvent(event.name, event.payload).ok).toBe(true);
    }
  });

  it('records a failed call with no answer, its status and the last PBX tried', async () => {
    const { calls, clock, published } = tracker();
    const call = calls.begin(info);
    call.routedTo('pbx-1');
    call.routedTo('pbx-3');
    clock.advance(2_250);
    call.ended({ sipStatus: 503, hangupCause: 'pbx-unavailable' });
    await calls.flush();

    expect(published.map((event) => event.name)).toEqual(['call.ended']);
    const cdr = cdrOf(published);
    expect(cdr).toMatchObject({
      disposition: 'failed',
      sipStatus: 503,
      pbxNode: 'pbx-3',
      durationSeconds: 2.25,
      end: '2025-01-01T12:00:02.250Z',
    });
    expect(cdr.answer).toBeUndefined();
    expect(cdr.billableSeconds).toBeUndefined();
  });

  it('ends a call once: a second end is ignored', async () => {
    const { calls, published } = tracker();
    const call = calls.begin(info);
    call.ended({ sipStatus: 486 });
    call.ended({ sipStatus: 500 });
    await calls.flush();
    expect(published).toHaveLength(1);
    expect(cdrOf(published)).toMatchObject({ disposition: 'busy', sipStatus: 486 });
  });

  it.each([
    [200, 'answered'],
    [486, 'busy'],
    [600, 'busy'],
    [480, 'no-answer'],
    [408, 'no-answer'],
    [487, 'cancelled'],
    [404, 'failed'],
    [503, 'failed'],
  ] as const)('maps SIP status %i to disposition %s', (status, disposition) => {
    expect(dispositionFor(status)).toBe(disposition);
  });

  it('logs a publish failure and carries on', async () => {
    const { calls, lines } = tracker(() => Promise.reject(new Error('bus unavailable')));
    const call = calls.begin(info);
    call.answered();
    call.ended();
    await calls.flush();
    expect(calls.active).toBe(0);
    const errors = lines.filter((line) => line.msg === 'could not publish a call event');
    expect(errors.map((line) => line.event)).toEqual(['call.started', 'call.ended']);
  });

  it('survives a publish function that throws instead of rejecting', async () => {
    const { calls, lines } = tracker(() => {
      throw new Error('not connected');
    });
    calls.begin(info).ended({ sipStatus: 404 });
    await calls.flush();
    expect(lines.some((line) => line.msg === 'could not publish a call event')).toBe(true);
    expect(await calls.waitIdle(10)).toBe(true);
  });

  it('finds a live call by Call-ID and forgets it once ended', () => {
    const { calls } = tracker();
    const call = calls.begin(info);
    expect(calls.get(info.callId)).toBe(call);
    call.ended();
    expect(calls.get(info.callId)).toBeUndefined();
  });

  it('waitIdle resolves true when the last call ends and its event is published', async () => {
    let release: () => void = () => undefined;
    const { calls } = tracker(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const call = calls.begin(info);
    const idle = calls.waitIdle(5_000);
    call.ended({ sipStatus: 487 });
    let settled = false;
    void idle.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    release();
    await expect(idle).resolves.toBe(true);
  });

  it('waitIdle resolves false when calls outlive the deadline', async () => {
    const { calls, lines } = tracker();
    calls.begin(info);
    await expect(calls.waitIdle(20)).resolves.toBe(false);
    expect(lines.some((line) => line.msg === 'calls still live at the drain deadline')).toBe(true);
  });

  it('counts two live calls that share a Call-ID separately', () => {
    const { calls } = tracker();
    const first = calls.begin(info);
    const second = calls.begin(info);
    expect(calls.active).toBe(2);
    first.ended();
    expect(calls.active).toBe(1);
    expect(calls.get(info.callId)).toBe(second);
  });

  it('cuts header values to what the event schemas accept', async () => {
    const { calls, published } = tracker();
    calls.begin({ ...info, userAgent: 'x'.repeat(2_000), from: '' }).ended({ sipStatus: 404 });
    await calls.flush();
    const cdr = cdrOf(published);
    expect(cdr.userAgent).toHaveLength(512);
    expect(cdr.from).toBe('unknown');
  });
});
