import { describe, expect, it } from 'vitest';
import { BoundedBuffer, attemptsOf, backoffDelay, onHandlerFailure } from '../src/index.js';

describe('retry counting', () => {
  it('reads the attempt count from x-attempts, treating anything odd as none', () => {
    expect(attemptsOf(undefined)).toBe(0);
    expect(attemptsOf({ 'x-attempts': 2 })).toBe(2);
    expect(attemptsOf({ 'x-attempts': '3' })).toBe(3);
    expect(attemptsOf({ 'x-attempts': -1 })).toBe(0);
    expect(attemptsOf({ 'x-attempts': 'many' })).toBe(0);
  });

  it('retries until the handler has failed maxAttempts times, then dead-letters', () => {
    expect(onHandlerFailure({}, 3)).toEqual({ action: 'retry', attempts: 1 });
    expect(onHandlerFailure({ 'x-attempts': 1 }, 3)).toEqual({ action: 'retry', attempts: 2 });
    expect(onHandlerFailure({ 'x-attempts': 2 }, 3)).toEqual({
      action: 'dead-letter',
      attempts: 3,
    });
    expect(onHandlerFailure({}, 1)).toEqual({ action: 'dead-letter', attempts: 1 });
  });
});

describe('reconnect backoff', () => {
  const options = { initialMs: 100, maxMs: 5000 };

  it('doubles from the first delay, with half of it random', () => {
    expect(backoffDelay(1, options, () => 0)).toBe(50);
    expect(backoffDelay(1, options, () => 1)).toBe(100);
    expect(backoffDelay(3, options, () => 0)).toBe(200);
    expect(backoffDelay(3, options, () => 1)).toBe(400);
  });

  it('never exceeds the cap', () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      expect(backoffDelay(attempt, options, () => 1)).toBeLessThanOrEqual(5000);
    }
  });
});

describe('publish buffer', () => {
  it('refuses past its message bound', () => {
    const buffer = new BoundedBuffer<string>({ maxMessages: 2, maxBytes: 1000 });
    expect(buffer.push('a', 1)).toBe(true);
    expect(buffer.push('b', 1)).toBe(true);
    expect(buffer.push('c', 1)).toBe(false);
    expect(buffer.length).toBe(2);
  });

  it('refuses past its byte bound, and frees bytes as it drains', () => {
    const buffer = new BoundedBuffer<string>({ maxMessages: 100, maxBytes: 10 });
    expect(buffer.push('a', 6)).toBe(true);
    expect(buffer.push('b', 6)).toBe(false);
    expect(buffer.shift()).toBe('a');
    expect(buffer.bytes).toBe(0);
    expect(buffer.push('b', 6)).toBe(true);
  });

  it('takes back an in-flight message at the front even when full, keeping order', () => {
    const buffer = new BoundedBuffer<string>({ maxMessages: 1, maxBytes: 10 });
    buffer.push('second', 1);
    buffer.unshift('first', 1);
    expect(buffer.drain()).toEqual(['first', 'second']);
    expect(buffer.length).toBe(0);
  });
});
