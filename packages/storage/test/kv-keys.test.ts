import { describe, expect, it } from 'vitest';
import {
  KvInvalidArgumentError,
  SLOT_COUNT,
  escapeGlob,
  groupBySlot,
  keySlot,
} from '../src/kv/index.js';
import { checkKey, checkTtl, childPrefix, validateName } from '../src/kv/keys.js';

describe('kv key slots', () => {
  it('hashes keys as Redis Cluster does (CLUSTER KEYSLOT)', () => {
    // Values from redis-cli CLUSTER KEYSLOT.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('')).toBe(0);
    expect(keySlot('ünïcode')).toBe(keySlot('ünïcode'));
    expect(keySlot('a')).toBeLessThan(SLOT_COUNT);
  });

  it('hashes only the first non-empty hash tag', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('swb:{calls}:legs:1')).toBe(keySlot('calls'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
    expect(keySlot('{unclosed')).not.toBe(keySlot('unclosed'));
  });

  it('groups keys by slot and remembers where each came from', () => {
    const keys = ['foo', 'bar', '{foo}x', 'baz', '{bar}y'];
    const groups = groupBySlot(keys);
    expect(groups.map((g) => g.keys)).toEqual([['foo', '{foo}x'], ['bar', '{bar}y'], ['baz']]);
    expect(groups.map((g) => g.indexes)).toEqual([[0, 2], [1, 4], [3]]);
    expect(groups[0]?.slot).toBe(12182);
    expect(groupBySlot([])).toEqual([]);
  });
});

describe('kv key building', () => {
  it('escapes SCAN glob characters so a prefix matches only itself', () => {
    expect(escapeGlob('a*b?c[d]e\\f{g}')).toBe('a\\*b\\?c\\[d\\]e\\\\f{g}');
  });

  it('gives a colocated namespace a hash tag, once, and others a plain prefix', () => {
    expect(childPrefix('swb:', false, 'calls', true)).toBe('swb:{calls}:');
    expect(childPrefix('swb:', false, 'calls', false)).toBe('swb:calls:');
    expect(childPrefix('swb:{calls}:', true, 'legs', true)).toBe('swb:{calls}:legs:');
    expect(childPrefix('', false, 'leases', true)).toBe('{leases}:');
  });

  it('refuses names with separators, braces or whitespace', () => {
    expect(validateName('bindings', 'a name')).toBe('bindings');
    for (const bad of ['', 'a:b', '{x}', 'a b', 'x'.repeat(201), 7]) {
      expect(() => validateName(bad, 'a name')).toThrow(KvInvalidArgumentError);
    }
  });

  it('takes any non-empty string as a key, and positive integer TTLs', () => {
    expect(() => {
      checkKey('sip:alice@example.com');
    }).not.toThrow();
    expect(() => {
      checkKey('');
    }).toThrow(/non-empty string/);
    expect(() => {
      checkKey(undefined);
    }).toThrow(/got undefined/);
    expect(checkTtl(1000)).toBe(1000);
    for (const bad of [0, -5, 1.5, Number.NaN, '100']) {
      expect(() => checkTtl(bad)).toThrow(/ttlMs must be a positive integer/);
    }
  });
});
