import { BlobInvalidArgumentError, BlobInvalidKeyError } from './errors.js';
import type { BlobMetadata, ByteRange } from './types.js';

/** S3's limit, in UTF-8 bytes. */
export const maxKeyBytes = 1024;
/** NAME_MAX of common file systems, in bytes: a longer segment cannot be a POSIX file name. */
export const maxSegmentBytes = 255;
/** Names starting with this are the store's own (temp files); no key segment may use it. */
export const reservedPrefix = '.swb-';
/** S3's limit on user metadata (keys + values), in bytes. */
export const maxMetadataBytes = 2048;

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// eslint-disable-next-line no-control-regex -- control characters are exactly what it rejects
const controlChars = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Checks a key and returns it. A key is a relative, `/`-separated path: 1–1024 UTF-8 bytes, no
 * empty, `.` or `..` segment, no leading or trailing `/`, no backslash (a Windows path separator
 * that would mean something else on another system), no control character (NUL included), well
 * formed Unicode, each segment at most 255 bytes and none starting with `.swb-`. The same rules
 * hold on both backends, so a key valid on S3 is valid on POSIX and objects can move between them.
 */
export function validateKey(key: unknown): string {
  if (typeof key !== 'string') throw new BlobInvalidKeyError(key, 'must be a string');
  if (key.length === 0) throw new BlobInvalidKeyError(key, 'is empty');
  if (loneSurrogate.test(key)) throw new BlobInvalidKeyError(key, 'is not well-formed Unicode');
  if (Buffer.byteLength(key) > maxKeyBytes) {
    throw new BlobInvalidKeyError(key, `is longer than ${maxKeyBytes} bytes`);
  }
  if (controlChars.test(key)) throw new BlobInvalidKeyError(key, 'contains a control character');
  if (key.includes('\\')) throw new BlobInvalidKeyError(key, 'contains a backslash');
  if (key.startsWith('/')) throw new BlobInvalidKeyError(key, 'is absolute (starts with /)');
  if (key.endsWith('/')) throw new BlobInvalidKeyError(key, 'ends with /');
  for (const segment of key.split('/')) {
    if (segment === '') throw new BlobInvalidKeyError(key, 'has an empty segment (//)');
    if (segment === '.' || segment === '..') {
      throw new BlobInvalidKeyError(key, `has a "${segment}" segment`);
    }
    if (segment.startsWith(reservedPrefix)) {
      throw new BlobInvalidKeyError(key, `has a segment starting with "${reservedPrefix}"`);
    }
    if (Buffer.byteLength(segment) > maxSegmentBytes) {
      throw new BlobInvalidKeyError(key, `has a segment longer than ${maxSegmentBytes} bytes`);
    }
  }
  return key;
}

/**
 * A list prefix: empty, or the beginning of a key, its last segment possibly partial. A prefix is
 * valid when some key can start with it, i.e. when `prefix + "x"` is a valid key.
 */
export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === '') return '';
  if (typeof prefix !== 'string') throw new BlobInvalidKeyError(prefix, 'prefix must be a string');
  try {
    validateKey(`${prefix}x`);
  } catch (err) {
    const reason = err instanceof BlobInvalidKeyError ? err.reason : String(err);
    throw new BlobInvalidKeyError(prefix, `no key can start with this prefix (${reason})`);
  }
  return prefix;
}

const metadataKey = /^[a-z0-9][a-z0-9_-]{0,127}$/;
// Printable ASCII: S3 sends metadata as HTTP headers, which only carry US-ASCII reliably.
const printableAscii = /^[\x20-\x7e]*$/;
const contentTypePattern = /^[\x21-\x7e]+\/[\x20-\x7e]+$/;
const sha256Pattern = /^[0-9a-f]{64}$/;

/** Checks user metadata; returns a frozen copy. Keys starting with `swb-` are reserved. */
export function validateMetadata(metadata: unknown): BlobMetadata {
  if (metadata === undefined) return Object.freeze({});
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new BlobInvalidArgumentError('metadata must be an object of string values');
  }
  let bytes = 0;
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (!metadataKey.test(name) || name.startsWith('swb-')) {
      throw new BlobInvalidArgumentError(
        `metadata key ${JSON.stringify(name)}: expected [a-z0-9_-], 1–128 characters, not starting with "swb-"`,
      );
    }
    if (typeof value !== 'string' || !printableAscii.test(value)) {
      throw new BlobInvalidArgumentError(
        `metadata value of ${JSON.stringify(name)}: expected a printable ASCII string`,
      );
    }
    bytes += name.length + value.length;
    copy[name] = value;
  }
  if (bytes > maxMetadataBytes) {
    throw new BlobInvalidArgumentError(`metadata is ${bytes} bytes; at most ${maxMetadataBytes}`);
  }
  return Object.freeze(copy);
}

export function validateContentType(contentType: unknown): string {
  if (contentType === undefined) return 'application/octet-stream';
  if (
    typeof contentType !== 'string' ||
    contentType.length > 255 ||
    !contentTypePattern.test(contentType)
  ) {
    throw new BlobInvalidArgumentError(
      `contentType: expected a media type such as "audio/wav", got ${JSON.stringify(contentType)}`,
    );
  }
  return contentType;
}

export function validateSha256(sha256: unknown): string | undefined {
  if (sha256 === undefined) return undefined;
  if (typeof sha256 !== 'string' || !sha256Pattern.test(sha256)) {
    throw new BlobInvalidArgumentError('sha256: expected 64 lowercase hex digits');
  }
  return sha256;
}

export function validateIfNoneMatch(value: unknown): boolean {
  if (value === undefined) return false;
  if (value !== '*') throw new BlobInvalidArgumentError(`ifNoneMatch: only '*' is supported`);
  return true;
}

export function validateRange(range: ByteRange | undefined): ByteRange | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range as { start?: unknown; end?: unknown };
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0) {
    throw new BlobInvalidArgumentError('range.start: expected an integer ≥ 0');
  }
  if (end !== undefined && (typeof end !== 'number' || !Number.isSafeInteger(end) || end < start)) {
    throw new BlobInvalidArgumentError('range.end: expected an integer ≥ range.start');
  }
  return end === undefined ? { start } : { start, end };
}

export function validateLimit(limit: unknown): number {
  if (limit === undefined) return 1000;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new BlobInvalidArgumentError('limit: expected an integer from 1 to 1000');
  }
  return limit;
}

/** Compares keys in UTF-8 byte order, the order S3 lists in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
