import type { TSchema } from '@switchboard/runtime';
import { Compile, type Validator } from 'typebox/compile';
import { KvDeserializeError, KvSerializeError } from './errors.js';

/**
 * How a record's value becomes the string Redis stores and back. `key` is the full Redis key,
 * named in the error when a value does not (de)serialize.
 */
export interface KvCodec<T> {
  encode(key: string, value: T): string;
  decode(key: string, raw: string): T;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function schemaReason(validator: Validator, value: unknown): string {
  const [first] = validator.Errors(value);
  if (first === undefined) return 'does not match the schema';
  return `does not match the schema at ${first.instancePath === '' ? '/' : first.instancePath}: ${first.message}`;
}

/**
 * JSON text, checked against a TypeBox schema on write and on read when there is one. Values
 * are stored exactly as `JSON.stringify` wrote them, so compare-and-set can compare the text.
 */
export class JsonCodec<T> implements KvCodec<T> {
  readonly #validator: Validator | undefined;

  constructor(schema?: TSchema) {
    this.#validator = schema === undefined ? undefined : Compile(schema);
  }

  encode(key: string, value: T): string {
    const validator = this.#validator;
    if (validator !== undefined && !validator.Check(value)) {
      throw new KvSerializeError(key, schemaReason(validator, value));
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new KvSerializeError(key, `JSON.stringify failed: ${describe(error)}`, error);
    }
    // undefined, a function or a symbol: JSON has no text for them, and storing nothing would
    // lose the write silently.
    if (typeof text !== 'string') {
      throw new KvSerializeError(key, `a ${typeof value} has no JSON form`);
    }
    return text;
  }

  decode(key: string, raw: string): T {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new KvDeserializeError(key, `not JSON (${describe(error)})`, error);
    }
    const validator = this.#validator;
    if (validator !== undefined && !validator.Check(value)) {
      throw new KvDeserializeError(key, schemaReason(validator, value));
    }
    return value as T;
  }
}

/** Parses a counter's stored text: a base-10 integer, as INCRBY writes it. */
export function decodeCounter(key: string, raw: string | null): number {
  if (raw === null) return 0;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new KvDeserializeError(
      key,
      `a counter must hold an integer, found ${JSON.stringify(raw.slice(0, 50))}`,
    );
  }
  return value;
}
