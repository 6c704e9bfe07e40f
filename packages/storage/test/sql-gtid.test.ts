import { describe, expect, it } from 'vitest';
import { formatGtid, gtidCovers, gtidDistance, mergeGtid, parseGtid } from '../src/index.js';

describe('GTID positions', () => {
  it('parses domain-server-seq lists into a sequence per domain', () => {
    const position = parseGtid('0-1-42,1-2-7');
    expect([...position]).toEqual([
      [0, 42],
      [1, 7],
    ]);
  });

  it('skips malformed entries and keeps the highest sequence of a repeated domain', () => {
    expect([...parseGtid('garbage, 0-1-5 ,0-2-9,x-1-2,3-1')]).toEqual([[0, 9]]);
    expect(parseGtid('').size).toBe(0);
  });

  it('compares per domain, ignoring server ids', () => {
    const have = parseGtid('0-1-10,1-3-5');
    expect(gtidCovers(have, parseGtid('0-2-10'))).toBe(true);
    expect(gtidCovers(have, parseGtid('0-1-11'))).toBe(false);
    expect(gtidCovers(have, parseGtid('0-1-3,1-3-5'))).toBe(true);
    expect(gtidCovers(have, parseGtid('2-1-1'))).toBe(false);
    expect(gtidCovers(parseGtid(''), parseGtid(''))).toBe(true);
    expect(gtidCovers(have, parseGtid(''))).toBe(true);
  });

  it('merges to the per-domain maximum', () => {
    const merged = mergeGtid(parseGtid('0-1-10,1-1-2'), parseGtid('0-1-8,1-1-4,2-1-1'));
    expect(formatGtid(merged)).toBe('0-0-10,1-0-4,2-0-1');
    const a = parseGtid('0-1-10');
    expect(mergeGtid(a, parseGtid('0-1-9'))).toBe(a);
  });

  it('counts the transactions one position is ahead of another', () => {
    expect(gtidDistance(parseGtid('0-1-10,1-1-5'), parseGtid('0-1-7'))).toBe(8);
    expect(gtidDistance(parseGtid('0-1-3'), parseGtid('0-1-7'))).toBe(0);
  });
});
