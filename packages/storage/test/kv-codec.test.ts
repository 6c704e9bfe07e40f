import { Type } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { JsonCodec, KvDeserializeError, KvSerializeError } from '../src/kv/index.js';
import { decodeCounter } from '../src/kv/codec.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected a throw');
}

const Binding = Type.Object({ contact: Type.String(), expires: Type.Integer() });

describe('kv JSON codec', () => {
  it('stores exactly what JSON.stringify writes and reads it back', () => {
    const codec = new JsonCodec<unknown>();
    for (const value of [{ a: 1, b: [true, null, 'x'] }, 'text', 0, -1.5e-7, null, []]) {
      const text = codec.encode('k', value);
      expect(text).toBe(JSON.stringify(value));
      expect(codec.decode('k', text)).toEqual(value);
      // Compare-and-set compares text: a value read back encodes to the same text.
      expect(codec.encode('k', codec.decode('k', text))).toBe(text);
    }
  });

  it('refuses values JSON cannot hold, naming the key and the reason', () => {
    const codec = new JsonCodec<unknown>();
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const error = thrown(() => codec.encode('swb:a', cyclic));
    expect(error).toMatchObject({ code: 'SWB_KV_SERIALIZE', key: 'swb:a' });
    expect(error.message).toMatch(/^cannot store "swb:a": JSON\.stringify failed: .*circular/i);
    expect(() => codec.encode('swb:b', 10n)).toThrow(KvSerializeError);
    expect(() => codec.encode('swb:c', undefined)).toThrow(
      'cannot store "swb:c": a undefined has no JSON form',
    );
    expect(() => codec.encode('swb:d', () => 1)).toThrow(/a function has no JSON form/);
  });

  it('reports stored text that is not JSON as SWB_KV_DESERIALIZE', () => {
    const codec = new JsonCodec<unknown>();
    let caught: unknown;
    try {
      codec.decode('swb:raw', 'not json {');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KvDeserializeError);
    expect(caught).toMatchObject({
      code: 'SWB_KV_DESERIALIZE',
      key: 'swb:raw',
      retryable: false,
      statusCode: 500,
    });
    expect((caught as Error).message).toMatch(/^cannot read "swb:raw": not JSON \(/);
  });

  it('checks values against the schema on write and on read', () => {
    const codec = new JsonCodec<unknown>(Binding);
    expect(codec.encode('b', { contact: 'sip:a@h', expires: 60 })).toBe(
      '{"contact":"sip:a@h","expires":60}',
    );
    expect(() => codec.encode('b', { contact: 'sip:a@h', expires: 'soon' })).toThrow(
      /^cannot store "b": does not match the schema at \/expires: /,
    );
    const error = thrown(() => codec.decode('b', '{"contact":1,"expires":1}'));
    expect(error).toMatchObject({ code: 'SWB_KV_DESERIALIZE', key: 'b' });
    expect(error.message).toMatch(/^cannot read "b": does not match the schema at \/contact/);
  });
});

describe('kv counter text', () => {
  it('reads missing as 0 and refuses anything but an integer', () => {
    expect(decodeCounter('c', null)).toBe(0);
    expect(decodeCounter('c', '-42')).toBe(-42);
    expect(() => decodeCounter('c', '1.5')).toThrow(/a counter must hold an integer/);
    expect(() => decodeCounter('c', '{"a":1}')).toThrow(KvDeserializeError);
  });
});
