import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/index.js';

describe('backoffDelay', () => {
  const options = { baseMs: 100, maxMs: 1000 };

  it('doubles the ceiling per attempt up to the cap, with equal jitter by default', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, options, () => 0))).toEqual([
      50, 100, 200, 400, 500,
    ]);
    expect(backoffDelay(3, options, () => 0.999_999)).toBe(399);
  });

  it('draws from the whole range with full jitter', () => {
    expect(backoffDelay(3, { ...options, jitter: 'full' }, () => 0)).toBe(0);
    expect(backoffDelay(3, { ...options, jitter: 'full' }, () => 0.5)).toBe(200);
  });

  it('treats attempts below 1 as the first and never overflows', () => {
    expect(backoffDelay(0, options, () => 0)).toBe(50);
    expect(backoffDelay(10_000, options, () => 0)).toBe(500);
  });
});
