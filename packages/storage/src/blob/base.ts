import { buffer } from 'node:stream/consumers';
import { ClosedError } from '@switchboard/runtime';
import { normalizeBody, type NormalizedBody } from './body.js';
import { BlobInvalidArgumentError } from './errors.js';
import {
  validateContentType,
  validateIfNoneMatch,
  validateKey,
  validateLimit,
  validateMetadata,
  validatePrefix,
  validateRange,
  validateSha256,
} from './keys.js';
import { maxPresignSeconds } from './presign.js';
import type {
  BlobBody,
  BlobCapabilities,
  BlobInfo,
  BlobMetadata,
  BlobStore,
  ByteRange,
  CleanupOptions,
  CopyOptions,
  GetOptions,
  GetResult,
  ListedObject,
  ListOptions,
  ListPage,
  PresignOptions,
  PutOptions,
  PutResult,
} from './types.js';

/** A `put` whose arguments passed every check, as a backend receives it. */
export interface CheckedPut {
  readonly key: string;
  readonly source: NormalizedBody;
  readonly contentType: string;
  readonly metadata: BlobMetadata;
  /** The caller's expected SHA-256 (hex), when given. */
  readonly expected: string | undefined;
  readonly ifNoneMatch: boolean;
  readonly signal: AbortSignal | undefined;
}

/** A checked `get`. */
export interface CheckedGet {
  readonly key: string;
  readonly range: ByteRange | undefined;
  readonly verify: boolean;
  readonly signal: AbortSignal | undefined;
}

/** A checked `list`: `after` is the decoded cursor. */
export interface CheckedList {
  readonly prefix: string;
  readonly limit: number;
  readonly after: string | undefined;
  readonly recursive: boolean;
}

/** A checked `presign`. */
export interface CheckedPresign {
  readonly key: string;
  readonly method: 'GET' | 'PUT';
  readonly seconds: number;
  readonly contentType: string | undefined;
}

/**
 * What both backends share: the public methods check the store is open and every argument is
 * valid (keys, content types, metadata, checksums, ranges, limits, cursors), then hand the
 * checked request to the backend, so a backend never sees an unchecked argument and the rules
 * live in one place. Checks throw inside async methods: a bad argument is a rejected promise.
 */
export abstract class BaseBlobStore implements BlobStore {
  abstract readonly capabilities: BlobCapabilities;
  #closing: Promise<void> | undefined;

  protected assertOpen(): void {
    if (this.#closing !== undefined) throw new ClosedError('blob store is closed');
  }

  async put(key: string, body: BlobBody, options: PutOptions = {}): Promise<PutResult> {
    this.assertOpen();
    validateKey(key);
    const contentType = validateContentType(options.contentType);
    const metadata = validateMetadata(options.metadata);
    const expected = validateSha256(options.sha256);
    const ifNoneMatch = validateIfNoneMatch(options.ifNoneMatch);
    const source = normalizeBody(body);
    return this.putChecked({
      key,
      source,
      contentType,
      metadata,
      expected,
      ifNoneMatch,
      signal: options.signal,
    });
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    this.assertOpen();
    validateKey(key);
    const range = validateRange(options.range);
    const verify = options.verify === true;
    if (verify && range !== undefined) {
      throw new BlobInvalidArgumentError('verify: only whole-object reads can be verified');
    }
    return this.getChecked({ key, range, verify, signal: options.signal });
  }

  async head(key: string): Promise<BlobInfo> {
    this.assertOpen();
    validateKey(key);
    return this.headChecked(key);
  }

  async exists(key: string): Promise<boolean> {
    this.assertOpen();
    validateKey(key);
    return this.existsChecked(key);
  }

  async delete(key: string): Promise<void> {
    this.assertOpen();
    validateKey(key);
    return this.deleteChecked(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.assertOpen();
    const given: unknown = keys;
    if (!Array.isArray(given))
      throw new BlobInvalidArgumentError('keys: expected an array of keys');
    for (const key of keys) validateKey(key);
    return this.deleteManyChecked(keys);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    this.assertOpen();
    return this.listChecked({
      prefix: validatePrefix(options.prefix),
      limit: validateLimit(options.limit),
      after: decodeCursor(options.cursor),
      recursive: options.recursive === true,
    });
  }

  async copy(source: string, destination: string, options: CopyOptions = {}): Promise<void> {
    this.assertOpen();
    validateKey(source);
    validateKey(destination);
    return this.copyChecked(source, destination, validateIfNoneMatch(options.ifNoneMatch));
  }

  async move(source: string, destination: string, options: CopyOptions = {}): Promise<void> {
    this.assertOpen();
    validateKey(source);
    validateKey(destination);
    return this.moveChecked(source, destination, validateIfNoneMatch(options.ifNoneMatch));
  }

  async presign(key: string, options: PresignOptions): Promise<string> {
    this.assertOpen();
    validateKey(key);
    const seconds = presignSeconds(options);
    const contentType =
      options.contentType === undefined ? undefined : validateContentType(options.contentType);
    return this.presignChecked({ key, method: options.method, seconds, contentType });
  }

  abstract cleanup(options?: CleanupOptions): Promise<{ readonly removed: number }>;
  protected abstract putChecked(request: CheckedPut): Promise<PutResult>;
  protected abstract getChecked(request: CheckedGet): Promise<GetResult>;
  protected abstract headChecked(key: string): Promise<BlobInfo>;
  protected abstract existsChecked(key: string): Promise<boolean>;
  protected abstract deleteChecked(key: string): Promise<void>;
  protected abstract deleteManyChecked(keys: readonly string[]): Promise<void>;
  protected abstract listChecked(request: CheckedList): Promise<ListPage>;
  protected abstract copyChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void>;
  protected abstract moveChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void>;
  protected abstract presignChecked(request: CheckedPresign): Promise<string>;
  protected abstract release(): Promise<void>;

  async getBytes(key: string, options?: GetOptions): Promise<Buffer> {
    const { body } = await this.get(key, options);
    return buffer(body);
  }

  async *listAll(prefix?: string): AsyncIterable<ListedObject> {
    let cursor: string | undefined;
    do {
      const page = await this.list({
        recursive: true,
        ...(prefix === undefined ? {} : { prefix }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      yield* page.objects;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  close(): Promise<void> {
    this.#closing ??= this.release();
    return this.#closing;
  }

  destroy(): Promise<void> {
    return this.close();
  }
}

export function presignSeconds(options: PresignOptions): number {
  const seconds = options.expiresInSeconds ?? 900;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > maxPresignSeconds) {
    throw new BlobInvalidArgumentError(
      `expiresInSeconds: expected an integer from 1 to ${maxPresignSeconds}`,
    );
  }
  if ((options.method as unknown) !== 'GET' && (options.method as unknown) !== 'PUT') {
    throw new BlobInvalidArgumentError(`method: expected "GET" or "PUT"`);
  }
  return seconds;
}

/** Runs `task` over `items`, at most `concurrency` at once; the first failure rejects. */
export async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: unknown): string | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new BlobInvalidArgumentError('cursor: expected the cursor of a previous page');
  }
  return Buffer.from(cursor, 'base64url').toString('utf8');
}
