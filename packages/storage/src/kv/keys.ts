import { KvInvalidArgumentError } from './errors.js';

/** Redis Cluster's slot count. */
export const SLOT_COUNT = 16384;

// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
const crcTable = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) {
    crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  crcTable[i] = crc;
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (crcTable[((crc >> 8) ^ (bytes[i] ?? 0)) & 0xff] ?? 0);
  }
  return crc;
}

/**
 * The hash slot of a key, as Redis computes it: only the part inside the first non-empty
 * `{…}` counts, so keys sharing a hash tag share a slot.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  return crc16(bytes, start, end) % SLOT_COUNT;
}

/** One hash slot's share of a multi-key call: its keys and where they sit in the input. */
export interface SlotGroup {
  readonly slot: number;
  readonly keys: string[];
  readonly indexes: number[];
}

/**
 * Splits keys by hash slot, keeping each key's position in the input so replies can be put back
 * in order. Groups come in order of each slot's first key.
 */
export function groupBySlot(keys: readonly string[]): SlotGroup[] {
  const bySlot = new Map<number, SlotGroup>();
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const slot = keySlot(key);
    let group = bySlot.get(slot);
    if (group === undefined) {
      group = { slot, keys: [], indexes: [] };
      bySlot.set(slot, group);
    }
    group.keys.push(key);
    group.indexes.push(i);
  }
  return [...bySlot.values()];
}

/** Escapes the glob characters of SCAN's MATCH, so a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

const namePattern = /^[^{}:\s]+$/;

/**
 * Checks a namespace or collection name: non-empty, without `:` (the separator), braces (hash
 * tags are the library's business) or whitespace.
 */
export function validateName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !namePattern.test(name) || name.length > 200) {
    throw new KvInvalidArgumentError(
      `${what} must be 1–200 characters without ":", "{", "}" or whitespace; got ${typeof name === 'string' ? JSON.stringify(name.slice(0, 200)) : typeof name}`,
    );
  }
  return name;
}

/**
 * The key prefix of a child namespace. A colocated namespace wraps its name in a hash tag, so
 * every key under it lands in one slot; inside a namespace that is already colocated the tag
 * is the parent's, and the child is a plain prefix within it.
 */
export function childPrefix(
  parentPrefix: string,
  parentTagged: boolean,
  name: string,
  colocate: boolean,
): string {
  return colocate && !parentTagged ? `${parentPrefix}{${name}}:` : `${parentPrefix}${name}:`;
}

/** The key a caller names must be a non-empty string; everything else about it is free. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new KvInvalidArgumentError(
      `a key must be a non-empty string; got ${typeof key === 'string' ? '""' : typeof key}`,
    );
  }
}

/** A TTL in milliseconds: a positive safe integer. */
export function checkTtl(ttlMs: unknown, key?: string): number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new KvInvalidArgumentError(
      `ttlMs must be a positive integer of milliseconds; got ${String(ttlMs)}`,
      key,
    );
  }
  return ttlMs;
}
