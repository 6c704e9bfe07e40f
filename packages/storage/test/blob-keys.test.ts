import { describe, expect, it } from 'vitest';
import { BlobInvalidKeyError, validateKey, validatePrefix } from '../src/index.js';
import { compareKeys, validateMetadata } from '../src/blob/keys.js';
import { hostileKeys } from './blob-contract.js';

describe('blob key validation', () => {
  it('accepts ordinary relative keys, Unicode included', () => {
    for (const key of [
      'a',
      'vm/2024/01/rec.wav',
      'accounts/42/fax-1.tiff',
      'ünï/cödé',
      'a/.hidden',
      'a..b',
      '...',
    ]) {
      expect(validateKey(key)).toBe(key);
    }
  });

  it('refuses every hostile key with InvalidKey and a reason', () => {
    for (const key of hostileKeys) {
      let caught: unknown;
      try {
        validateKey(key);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(key)).toBeInstanceOf(BlobInvalidKeyError);
      expect((caught as BlobInvalidKeyError).code).toBe('SWB_BLOB_INVALID_KEY');
      expect((caught as BlobInvalidKeyError).kind).toBe('InvalidKey');
      expect((caught as BlobInvalidKeyError).reason.length).toBeGreaterThan(0);
    }
  });

  it('allows keys up to 1024 UTF-8 bytes and segments up to 255', () => {
    const longKey = Array.from({ length: 4 }, () => 'k'.repeat(255)).join('/');
    expect(Buffer.byteLength(longKey)).toBe(1023);
    expect(validateKey(longKey)).toBe(longKey);
    expect(() => validateKey(`${longKey}/x`)).toThrow(/longer than 1024 bytes/);
    expect(() => validateKey('é'.repeat(128))).toThrow(/segment longer than 255 bytes/);
  });

  it('accepts prefixes that some key can start with, and refuses the rest', () => {
    for (const prefix of ['', 'a', 'a/', 'a/b', 'vm/2024/', 'a/.', 'a/..x']) {
      expect(validatePrefix(prefix)).toBe(prefix);
    }
    for (const prefix of ['/', '../', '/etc', 'a//', 'a\0', 'a/../', 7]) {
      expect(() => validatePrefix(prefix)).toThrow(BlobInvalidKeyError);
    }
  });

  it('orders keys by UTF-8 bytes, as S3 lists them', () => {
    const keys = ['b/1', 'b-x', 'bx', 'b', '\u{1f600}', '\uffff'];
    expect([...keys].sort(compareKeys)).toEqual(['b', 'b-x', 'b/1', 'bx', '\uffff', '\u{1f600}']);
  });

  it('checks user metadata: lowercase names, printable ASCII values, 2 KiB in all', () => {
    expect(validateMetadata({ 'call-id': 'abc', caller_id: '+1555' })).toEqual({
      'call-id': 'abc',
      caller_id: '+1555',
    });
    expect(() => validateMetadata({ Caller: 'x' })).toThrow(/metadata key/);
    expect(() => validateMetadata({ 'swb-sha256': 'x' })).toThrow(/swb-/);
    expect(() => validateMetadata({ a: 'line\nbreak' })).toThrow(/printable ASCII/);
    expect(() => validateMetadata({ a: 'x'.repeat(2048) })).toThrow(/at most 2048/);
    expect(() => validateMetadata(['x'])).toThrow(/object/);
  });
});
