import type { Readable } from 'node:stream';

/**
 * What `put` accepts: bytes in memory, a string (UTF-8), or a stream of unknown length (a Node
 * `Readable` or any async iterable of Buffers/Uint8Arrays, e.g. a web `ReadableStream`).
 */
export type BlobBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

/** User metadata: lowercase keys of `[a-z0-9-_]`, printable ASCII values, 2 KiB in all (as S3). */
export type BlobMetadata = Readonly<Record<string, string>>;

export interface PutOptions {
  readonly contentType?: string;
  readonly metadata?: BlobMetadata;
  /** `'*'`: create only; fails with `PreconditionFailed` when the key exists. */
  readonly ifNoneMatch?: '*';
  /**
   * The SHA-256 (hex) the caller expects: the write is verified while it streams and nothing is
   * stored on a mismatch (`ChecksumMismatch`).
   */
  readonly sha256?: string;
  /** Aborts the write; nothing is stored. */
  readonly signal?: AbortSignal;
}

export interface PutResult {
  readonly key: string;
  readonly size: number;
  /** SHA-256 of the content, hex, computed while the bytes streamed. */
  readonly sha256: string;
}

export interface BlobInfo {
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  readonly metadata: BlobMetadata;
  /** SHA-256 (hex) stored with the object; undefined for objects written by other tools. */
  readonly sha256: string | undefined;
  readonly modified: Date;
  /** The backend's entity tag (S3); not a checksum (a multipart ETag is not an MD5). */
  readonly etag: string | undefined;
}

/** Inclusive byte range, as HTTP's `Range: bytes=start-end`; `end` defaults to the last byte. */
export interface ByteRange {
  readonly start: number;
  readonly end?: number;
}

export interface GetOptions {
  readonly range?: ByteRange;
  /**
   * Verify the stored SHA-256 while streaming: the body stream errors with `ChecksumMismatch` at
   * its end if the bytes differ. Only for whole-object reads.
   */
  readonly verify?: boolean;
  readonly signal?: AbortSignal;
}

export interface GetResult {
  readonly info: BlobInfo;
  /** The bytes; consume or destroy it, or the file handle / socket stays open. */
  readonly body: Readable;
  /** The range served (inclusive), when one was asked for. */
  readonly range: { readonly start: number; readonly end: number } | undefined;
}

export interface ListOptions {
  /** Keys starting with this string (not necessarily at a `/`). */
  readonly prefix?: string;
  /** Every key under the prefix (true), or one level, with sub-levels as `prefixes` (false, default). */
  readonly recursive?: boolean;
  /** At most this many entries (objects + prefixes) per page, 1–1000; default 1000. */
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

export interface ListPage {
  /** In key order (UTF-8 byte order, as S3). */
  readonly objects: readonly ListedObject[];
  /** Common prefixes ending with `/`, for non-recursive listings. */
  readonly prefixes: readonly string[];
  /** Pass it back for the next page; undefined on the last page. */
  readonly cursor: string | undefined;
}

export interface CopyOptions {
  /** `'*'`: fails with `PreconditionFailed` when the destination exists. */
  readonly ifNoneMatch?: '*';
}

export interface PresignOptions {
  readonly method: 'GET' | 'PUT';
  /** Lifetime of the URL; default 900 s, at most 7 days. */
  readonly expiresInSeconds?: number;
  /** For PUT: the content type the uploader must send. */
  readonly contentType?: string;
}

export interface CleanupOptions {
  /** Leftovers younger than this may belong to a write in progress; default 24 h. */
  readonly olderThanMs?: number;
}

/** What a backend can do, so callers adapt instead of catching `Unsupported` (as OpenDAL's). */
export interface BlobCapabilities {
  readonly backend: 'posix' | 's3';
  readonly rangeRead: true;
  readonly userMetadata: true;
  readonly checksum: 'sha256';
  readonly list: { readonly recursive: true; readonly delimited: true; readonly paginated: true };
  /** `atomic`: the server enforces it; `best-effort`: checked before the write, racy across writers. */
  readonly conditionalCreate: 'atomic' | 'atomic-in-process' | 'best-effort';
  readonly multipart: boolean;
  /** Presigned URLs: S3 signs itself; POSIX only when `signing` is configured (a server verifies). */
  readonly presign: { readonly get: boolean; readonly put: boolean };
  /** `server-side`: no bytes through this process. */
  readonly copy: 'server-side' | 'local';
  /** Whether `move` is a single atomic rename. */
  readonly atomicMove: boolean;
  readonly batchDelete: true;
  readonly maxKeyBytes: number;
}

/**
 * One API over POSIX and S3. Every method validates its key first (`InvalidKey`), and maps the
 * backend's failures to `BlobError`s with stable codes.
 */
export interface BlobStore {
  readonly capabilities: BlobCapabilities;
  put(key: string, body: BlobBody, options?: PutOptions): Promise<PutResult>;
  get(key: string, options?: GetOptions): Promise<GetResult>;
  /** `get` collected into one Buffer: for small objects. */
  getBytes(key: string, options?: GetOptions): Promise<Buffer>;
  head(key: string): Promise<BlobInfo>;
  exists(key: string): Promise<boolean>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Deletes every key (idempotent per key); S3 batches them 1000 to a request. */
  deleteMany(keys: readonly string[]): Promise<void>;
  list(options?: ListOptions): Promise<ListPage>;
  /** Every key under `prefix`, page after page. */
  listAll(prefix?: string): AsyncIterable<ListedObject>;
  copy(source: string, destination: string, options?: CopyOptions): Promise<void>;
  move(source: string, destination: string, options?: CopyOptions): Promise<void>;
  presign(key: string, options: PresignOptions): Promise<string>;
  /**
   * Removes what interrupted writes left behind: POSIX temp files, S3 incomplete multipart
   * uploads (`Unsupported` where the server cannot list them). Returns how many it removed.
   */
  cleanup(options?: CleanupOptions): Promise<{ readonly removed: number }>;
  /** Releases the backend's resources (S3 sockets); later calls fail. Idempotent. */
  close(): Promise<void>;
  /** As `close`, without waiting for anything in flight. Idempotent. */
  destroy(): Promise<void>;
}
