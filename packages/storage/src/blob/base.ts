import { buffer } from 'node:stream/consumers';
import { ClosedError } from '@switchboard/runtime';
import { BlobInvalidArgumentError } from './errors.js';
import { maxPresignSeconds } from './presign.js';
import type {
  BlobBody,
  BlobCapabilities,
  BlobInfo,
  BlobStore,
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

/** What both backends share: the closed state and the helpers built on the primitives. */
export abstract class BaseBlobStore implements BlobStore {
  abstract readonly capabilities: BlobCapabilities;
  #closing: Promise<void> | undefined;

  protected assertOpen(): void {
    if (this.#closing !== undefined) throw new ClosedError('blob store is closed');
  }

  abstract put(key: string, body: BlobBody, options?: PutOptions): Promise<PutResult>;
  abstract get(key: string, options?: GetOptions): Promise<GetResult>;
  abstract head(key: string): Promise<BlobInfo>;
  abstract exists(key: string): Promise<boolean>;
  abstract delete(key: string): Promise<void>;
  abstract deleteMany(keys: readonly string[]): Promise<void>;
  abstract list(options?: ListOptions): Promise<ListPage>;
  abstract copy(source: string, destination: string, options?: CopyOptions): Promise<void>;
  abstract move(source: string, destination: string, options?: CopyOptions): Promise<void>;
  abstract presign(key: string, options: PresignOptions): Promise<string>;
  abstract cleanup(options?: CleanupOptions): Promise<{ readonly removed: number }>;
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
