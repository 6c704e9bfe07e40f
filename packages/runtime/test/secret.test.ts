import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret } from '../src/index.js';

describe('Secret', () => {
  const secret = new Secret('hunter2');

  it('gives its value only through reveal()', () => {
    expect(secret.reveal()).toBe('hunter2');
  });

  it('prints as [redacted] through String, JSON and util.inspect', () => {
    expect(String(secret)).toBe('[redacted]');
    expect(JSON.stringify({ password: secret })).toBe('{"password":"[redacted]"}');
    expect(inspect({ nested: { secret } })).not.toContain('hunter2');
    expect(inspect(secret)).toBe('[redacted]');
  });
});
