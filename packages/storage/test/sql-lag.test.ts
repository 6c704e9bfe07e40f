import { describe, expect, it } from 'vitest';
import { parseGtid } from '../src/index.js';
import { LagClock } from '../src/sql/lag.js';

describe('replica lag from GTID positions', () => {
  it('is the age of the oldest primary position the replica has not applied', () => {
    const clock = new LagClock();
    clock.record(parseGtid('0-1-10'), 1000);
    clock.record(parseGtid('0-1-12'), 1500);
    clock.record(parseGtid('0-1-15'), 2000);
    expect(clock.lagOf(parseGtid('0-1-15'), 2600)).toBe(0);
    expect(clock.lagOf(parseGtid('0-1-12'), 2600)).toBe(600);
    expect(clock.lagOf(parseGtid('0-1-9'), 2600)).toBe(1600);
  });

  it('keeps the first time a position was seen, and forgets what every replica has passed', () => {
    const clock = new LagClock();
    clock.record(parseGtid('0-1-10'), 1000);
    clock.record(parseGtid('0-1-10'), 1400);
    clock.record(parseGtid('0-1-11'), 2000);
    expect(clock.lagOf(parseGtid('0-1-9'), 3000)).toBe(2000);
    clock.trim([parseGtid('0-1-10'), parseGtid('0-1-11')]);
    expect(clock.lagOf(parseGtid('0-1-9'), 3000)).toBe(1000);
    expect(clock.lagOf(parseGtid('0-1-11'), 3000)).toBe(0);
  });
});
