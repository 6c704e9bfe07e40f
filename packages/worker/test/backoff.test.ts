import { describe, expect, it } from 'vitest';
import { defaultBackoff, retryDelay } from '../src/index.js';

const options = { baseDelayMs: 1000, maxDelayMs: 30_000 };

describe('retry backoff', () => {
  it('doubles the ceiling with each attempt, up to the maximum', () => {
    const top = (attempt: number) => retryDelay(attempt, options, () => 0.999_999);
    expect([1, 2, 3, 4, 5, 6, 7].map(top)).toEqual([999, 1999, 3999, 7999, 15_999, 29_999, 29_999]);
  });

  it('keeps at least half the ceiling, so retries never pile up at 0 ms', () => {
    const floor = (attempt: number) => retryDelay(attempt, options, () => 0);
    expect([1, 2, 3, 10].map(floor)).toEqual([500, 1000, 2000, 15_000]);
  });

  it('spreads workers that failed together over the upper half of the ceiling', () => {
    const delays = new Set(Array.from({ length: 200 }, () => retryDelay(3, options, Math.random)));
    expect(delays.size).toBeGreaterThan(50);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThan(4000);
    }
  });

  it('stays finite for absurd attempt counts', () => {
    expect(retryDelay(10_000, defaultBackoff, () => 0.5)).toBe(225_000);
    expect(retryDelay(0, defaultBackoff, () => 0)).toBe(500);
  });
});
