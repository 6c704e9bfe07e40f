/** A valid CDR for tests. */
export function cdr(callId: string) {
  return {
    callId,
    from: 'sip:alice@example.com',
    to: 'sip:bob@example.com',
    direction: 'internal' as const,
    disposition: 'answered' as const,
    start: '2026-01-01T10:00:00.000Z',
    answer: '2026-01-01T10:00:02.000Z',
    end: '2026-01-01T10:01:00.000Z',
    durationSeconds: 60,
  };
}
