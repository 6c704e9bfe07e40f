import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, addAbortSignal, pipeline } from 'node:stream';
import {
  BaseBlobStore,
  encodeCursor,
  forEachLimit,
  type CheckedGet,
  type CheckedList,
  type CheckedPresign,
  type CheckedPut,
} from './base.js';
import { createChecksum, sameChecksum, verifyingStream } from './checksum.js';
import type { ResolvedPosixConfig } from './config.js';
import {
  BlobChecksumMismatchError,
  BlobCorruptError,
  BlobError,
  BlobInvalidArgumentError,
  BlobInvalidKeyError,
  BlobNotFoundError,
  BlobPreconditionFailedError,
  BlobUnavailableError,
  BlobUnsupportedError,
} from './errors.js';
import { compareKeys, maxKeyBytes, reservedPrefix } from './keys.js';
import { signPosixUrl } from './presign.js';
import type {
  BlobCapabilities,
  CleanupOptions,
  BlobInfo,
  BlobMetadata,
  GetResult,
  ListPage,
  ListedObject,
  PutResult,
} from './types.js';

/**
 * Every object file starts with a fixed 4 KiB header (magic, JSON length, JSON metadata) and the
 * content follows. Metadata lives in the object's own file so that one rename publishes both at
 * once: a sidecar file would need a second rename, and NFS offers no xattrs Node can reach.
 */
export const headerSize = 4096;
const magic = Buffer.from('SWBBLOB1', 'latin1');
const tempPrefix = `${reservedPrefix}tmp-`;
/** Writes are batched to about this size, so small stream chunks do not cost a syscall each. */
const writeBatchBytes = 1024 * 1024;
const readHighWaterMark = 256 * 1024;
/** Bodies up to this size are hashed first and written with their header in one call. */
const singleWriteBytes = 1024 * 1024;
/** Slice of a large body hashed between two turns of the event loop. */
const hashSliceBytes = 4 * 1024 * 1024;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Objects up to this size are read whole with their header, in one call, and closed at once. */
const smallReadBytes = 64 * 1024;

interface Header {
  readonly v: 1;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
  readonly metadata: BlobMetadata;
}

function encodeHeader(header: Header): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > headerSize - 12) {
    throw new BlobInvalidArgumentError('metadata and content type do not fit the object header');
  }
  const buffer = Buffer.alloc(headerSize);
  magic.copy(buffer, 0);
  buffer.writeUInt32BE(json.length, 8);
  json.copy(buffer, 12);
  return buffer;
}

function decodeHeader(buffer: Buffer, key: string): Header {
  if (buffer.length < headerSize || !buffer.subarray(0, 8).equals(magic)) {
    throw new BlobCorruptError(key, 'not a blob file (no header)');
  }
  const length = buffer.readUInt32BE(8);
  if (length > headerSize - 12) throw new BlobCorruptError(key, 'header length out of range');
  try {
    const parsed = JSON.parse(buffer.toString('utf8', 12, 12 + length)) as Header;
    if ((parsed.v as unknown) !== 1 || typeof parsed.size !== 'number')
      throw new Error('unknown version');
    return parsed;
  } catch (err) {
    throw new BlobCorruptError(key, `unreadable header (${String(err)})`);
  }
}

interface OpenedObject {
  readonly handle: FileHandle;
  readonly header: Header;
  readonly info: BlobInfo;
  /** The whole content, when the first read got all of it. */
  readonly content: Buffer | undefined;
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const unavailableCodes = new Set([
  'EIO',
  'ENOSPC',
  'EDQUOT',
  'ESTALE',
  'ETIMEDOUT',
  'EAGAIN',
  'EMFILE',
  'ENFILE',
  'EBUSY',
]);

/** File system errors to blob errors; a blob error passes through. */
function mapFsError(err: unknown, key: string): unknown {
  if (err instanceof BlobError) return err;
  const code = errnoOf(err);
  if (code === 'ENOENT') return new BlobNotFoundError(key, { cause: err });
  if (code === 'ELOOP') return new BlobInvalidKeyError(key, 'resolves through a symbolic link');
  if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
    return new BlobInvalidKeyError(key, 'conflicts with an object or prefix of the same name');
  }
  if (code === 'ENAMETOOLONG')
    return new BlobInvalidKeyError(key, 'is too long for the file system');
  if (code !== undefined && unavailableCodes.has(code)) {
    return new BlobUnavailableError(`file system error ${code} on ${JSON.stringify(key)}`, {
      cause: err,
      key,
    });
  }
  return new BlobError(
    'BackendError',
    `file system error ${code ?? ''} on ${JSON.stringify(key)}`,
    { cause: err, key },
  );
}

async function writeAll(
  handle: FileHandle,
  buffers: readonly Buffer[],
  position: number,
): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    // A regular file takes the whole writev; a short write (a full disk) is finished or fails next.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) skip -= buffer.length;
      else {
        rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    pending = rest;
  }
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}

async function closeAfterFailure(handle: FileHandle): Promise<void> {
  try {
    await handle.close();
  } catch {
    // The operation already failed; its error is the one to report, and the handle is gone.
  }
}

/** The POSIX backend: one file per object under `root`, written atomically (see README). */
export class PosixBlobStore extends BaseBlobStore {
  readonly capabilities: BlobCapabilities;
  readonly #config: ResolvedPosixConfig;
  readonly #root: string;
  #rootReal: Promise<string> | undefined;
  /** Conditional creates of the same key, serialized within this process. */
  readonly #locks = new Map<string, Promise<void>>();

  constructor(config: ResolvedPosixConfig) {
    super();
    this.#config = config;
    this.#root = config.root;
    this.capabilities = Object.freeze({
      backend: 'posix',
      rangeRead: true,
      userMetadata: true,
      checksum: 'sha256',
      list: Object.freeze({ recursive: true, delimited: true, paginated: true }),
      conditionalCreate: 'atomic-in-process',
      multipart: false,
      presign: Object.freeze({
        get: config.signing !== undefined,
        put: config.signing !== undefined,
      }),
      copy: 'local',
      atomicMove: true,
      batchDelete: true,
      maxKeyBytes,
    } as const);
  }

  /** The root, created on first use, as the kernel resolves it (symlinks and all). */
  #realRoot(): Promise<string> {
    this.#rootReal ??= (async () => {
      await mkdir(this.#root, { recursive: true });
      return realpath(this.#root);
    })();
    return this.#rootReal;
  }

  async #inside(path: string): Promise<boolean> {
    const root = await this.#realRoot();
    return path === root || path.startsWith(root + sep);
  }

  /**
   * Checks that `dir` (an existing directory of some key) resolves inside the root: a symlink in
   * the root pointing elsewhere makes the key invalid instead of letting it escape.
   */
  async #checkDir(dir: string, key: string): Promise<void> {
    const real = await realpath(dir);
    if (!(await this.#inside(real))) {
      throw new BlobInvalidKeyError(key, 'resolves outside the store root (symbolic link)');
    }
  }

  /** Creates the directories of a key's path, refusing any that resolve outside the root. */
  async #ensureDir(dir: string, key: string): Promise<void> {
    try {
      await this.#checkDir(dir, key);
      return;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    await this.#realRoot();
    const created: string[] = [];
    let current = this.#root;
    for (const segment of relative(this.#root, dir).split(sep)) {
      current = join(current, segment);
      try {
        await mkdir(current);
        created.push(current);
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
        const stats = await lstat(current);
        if (stats.isSymbolicLink()) await this.#checkDir(current, key);
        else if (!stats.isDirectory()) {
          throw new BlobInvalidKeyError(
            key,
            `conflicts with the object ${JSON.stringify(relative(this.#root, current))}`,
          );
        }
      }
    }
    // A new directory's entry is durable only once its parent is synced.
    if (this.#config.fsync) {
      for (const path of created) await fsyncDirectory(dirname(path));
    }
  }

  #path(key: string): string {
    return join(this.#root, key);
  }

  async #withKeyLock<T>(path: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(path) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    this.#locks.set(path, chained);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.#locks.get(path) === chained) this.#locks.delete(path);
    }
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await lstat(path);
      return true;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** `rename(from, to)`, refused with PreconditionFailed when `ifNoneMatch` and `to` exists. */
  async #renameOnto(from: string, to: string, key: string, ifNoneMatch: boolean): Promise<void> {
    if (!ifNoneMatch) {
      await rename(from, to);
      return;
    }
    // Node has no renameat2(RENAME_NOREPLACE) and NFS no reliable lock, so the check and the
    // rename are made atomic within this process only (capabilities say so).
    await this.#withKeyLock(to, async () => {
      if (await this.#exists(to)) throw new BlobPreconditionFailedError(key);
      await rename(from, to);
    });
  }

  /** Publishes a finished temp file under `path`: rename, then sync the directory. */
  async #publish(temp: string, path: string, key: string, ifNoneMatch: boolean): Promise<void> {
    await this.#renameOnto(temp, path, key, ifNoneMatch);
    if (this.#config.fsync) await fsyncDirectory(dirname(path));
  }

  protected async putChecked(request: CheckedPut): Promise<PutResult> {
    const { key, source, contentType, metadata, expected, ifNoneMatch, signal } = request;
    const path = this.#path(key);
    const dir = dirname(path);
    let temp: string | undefined;
    let handle: FileHandle | undefined;
    try {
      signal?.throwIfAborted();
      if (ifNoneMatch && (await this.#exists(path))) throw new BlobPreconditionFailedError(key);
      // A concurrent delete may prune the directory between its creation and the open: retry.
      for (let attempt = 0; handle === undefined; attempt++) {
        await this.#ensureDir(dir, key);
        temp = join(dir, `${tempPrefix}${randomBytes(8).toString('hex')}`);
        try {
          handle = await open(
            temp,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            0o644,
          );
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT' || attempt >= 3) throw err;
        }
      }
      const hash = createChecksum();
      let size = 0;
      let digest: string | undefined;
      let headerWritten = false;
      if (source.kind === 'bytes' && source.bytes.length <= singleWriteBytes) {
        // Small: hash first, then header and content in one writev.
        const bytes = source.bytes;
        size = bytes.length;
        const sha256 = hash.update(bytes).digest('hex');
        if (expected !== undefined && !sameChecksum(expected, sha256)) {
          throw new BlobChecksumMismatchError(key, expected, sha256);
        }
        await writeAll(
          handle,
          [encodeHeader({ v: 1, size, sha256, contentType, metadata }), bytes],
          0,
        );
        headerWritten = true;
        digest = sha256;
      } else if (source.kind === 'bytes') {
        const bytes = source.bytes;
        // Large: the thread pool writes the content and flushes it to disk while this thread
        // hashes it, so the checksum costs little; the header goes last and the final sync below
        // (before the rename) covers it. The early flush is only a head start.
        const file = handle;
        // Its failure is kept as a value until awaited: the loop below yields to the event loop,
        // where a rejection with no handler yet would count as unhandled.
        const flushed = writeAll(file, [bytes], headerSize)
          .then(() => (this.#config.fsync ? file.datasync() : undefined))
          .then(
            () => undefined,
            (error: unknown) => ({ error }),
          );
        // Hash in slices, yielding between them, so the write's completion can start the flush
        // while hashing goes on (a single 64 MiB update would hold the thread until it ends).
        for (let offset = 0; offset < bytes.length; offset += hashSliceBytes) {
          hash.update(bytes.subarray(offset, offset + hashSliceBytes));
          await yieldToLoop();
        }
        const failed = await flushed;
        if (failed !== undefined) throw failed.error;
        size = bytes.length;
      } else {
        let batch: Buffer[] = [];
        let batchBytes = 0;
        for await (const chunk of source.chunks) {
          signal?.throwIfAborted();
          hash.update(chunk);
          batch.push(chunk);
          batchBytes += chunk.length;
          if (batchBytes >= writeBatchBytes) {
            await writeAll(handle, batch, headerSize + size);
            size += batchBytes;
            batch = [];
            batchBytes = 0;
          }
        }
        await writeAll(handle, batch, headerSize + size);
        size += batchBytes;
      }
      const sha256 = digest ?? hash.digest('hex');
      if (expected !== undefined && !sameChecksum(expected, sha256)) {
        throw new BlobChecksumMismatchError(key, expected, sha256);
      }
      if (!headerWritten) {
        await writeAll(handle, [encodeHeader({ v: 1, size, sha256, contentType, metadata })], 0);
      }
      if (this.#config.fsync) await handle.sync();
      await handle.close();
      handle = undefined;
      signal?.throwIfAborted();
      await this.#publish(temp as string, path, key, ifNoneMatch);
      temp = undefined;
      return { key, size, sha256 };
    } catch (err) {
      if (handle !== undefined) await closeAfterFailure(handle);
      if (temp !== undefined) await removeIfPresent(temp);
      if (source.kind === 'stream') source.dispose();
      throw mapFsError(err, key);
    }
  }

  /** Opens an object without following a symlink at its last component; reads its header. */
  async #openObject(key: string, prefetch: number): Promise<OpenedObject> {
    const path = this.#path(key);
    // The symlink check and the open run together; a refused key closes the handle unread.
    const [checked, opened] = await Promise.allSettled([
      this.#checkDir(dirname(path), key),
      open(path, constants.O_RDONLY | constants.O_NOFOLLOW),
    ]);
    if (opened.status === 'rejected') {
      throw checked.status === 'rejected' ? checked.reason : opened.reason;
    }
    const handle = opened.value;
    try {
      if (checked.status === 'rejected') throw checked.reason;
      const [stats, read] = await Promise.all([
        handle.stat(),
        handle.read(Buffer.allocUnsafe(headerSize + prefetch), 0, headerSize + prefetch, 0),
      ]);
      if (!stats.isFile()) throw new BlobNotFoundError(key);
      const header = decodeHeader(
        read.buffer.subarray(0, Math.min(read.bytesRead, headerSize)),
        key,
      );
      if (stats.size - headerSize !== header.size) {
        throw new BlobCorruptError(
          key,
          `size ${stats.size - headerSize}, header says ${header.size}`,
        );
      }
      return {
        handle,
        header,
        content:
          read.bytesRead === stats.size
            ? read.buffer.subarray(headerSize, read.bytesRead)
            : undefined,
        info: {
          key,
          size: header.size,
          contentType: header.contentType,
          metadata: Object.freeze({ ...header.metadata }),
          sha256: header.sha256,
          modified: stats.mtime,
          etag: undefined,
        },
      };
    } catch (err) {
      await closeAfterFailure(handle);
      throw err;
    }
  }

  protected async getChecked(request: CheckedGet): Promise<GetResult> {
    const { key, range, verify, signal } = request;
    let opened: OpenedObject | undefined;
    try {
      signal?.throwIfAborted();
      opened = await this.#openObject(key, smallReadBytes);
      const { handle, info, content } = opened;
      let start = 0;
      let end = info.size - 1;
      if (range !== undefined) {
        if (range.start >= info.size) {
          throw new BlobInvalidArgumentError(
            `range starts at ${range.start}, beyond the object's ${info.size} bytes`,
            { key },
          );
        }
        start = range.start;
        end = Math.min(range.end ?? end, end);
      }
      let body: Readable;
      if (content !== undefined || end < start) {
        await handle.close();
        body = Readable.from(
          end < start || content === undefined ? [] : [content.subarray(start, end + 1)],
        );
      } else {
        body = handle.createReadStream({
          start: headerSize + start,
          end: headerSize + end,
          highWaterMark: readHighWaterMark,
          autoClose: true,
        });
      }
      if (verify) {
        const verifier = verifyingStream(key, info.sha256 ?? '');
        // pipeline destroys every stream with the first error, and the verifier (what the caller
        // reads) carries it, so the callback has nothing left to do.
        body = pipeline(body, verifier, () => undefined);
      }
      if (signal !== undefined) addAbortSignal(signal, body);
      return { info, body, range: range === undefined ? undefined : { start, end } };
    } catch (err) {
      if (opened !== undefined) await closeAfterFailure(opened.handle);
      throw mapFsError(err, key);
    }
  }

  protected async headChecked(key: string): Promise<BlobInfo> {
    try {
      const { handle, info } = await this.#openObject(key, 0);
      await handle.close();
      return info;
    } catch (err) {
      throw mapFsError(err, key);
    }
  }

  protected async existsChecked(key: string): Promise<boolean> {
    const path = this.#path(key);
    try {
      await this.#checkDir(dirname(path), key);
      return (await lstat(path)).isFile();
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw mapFsError(err, key);
    }
  }

  protected async deleteChecked(key: string): Promise<void> {
    await this.#delete(key);
  }

  async #delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#checkDir(dirname(path), key);
      await unlink(path);
      if (this.#config.fsync) await fsyncDirectory(dirname(path));
      await this.#prune(dirname(path));
    } catch (err) {
      const code = errnoOf(err);
      // Deleting what is not there (or is a prefix, not an object) succeeds: delete is idempotent.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw mapFsError(err, key);
    }
  }

  /** Removes directories left empty up to the root, as S3 prefixes vanish with their last key. */
  async #prune(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.#root && current.startsWith(this.#root + sep)) {
      try {
        await rmdir(current);
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT' || code === 'EBUSY')
          return;
        throw err;
      }
      current = dirname(current);
    }
  }

  protected async deleteManyChecked(keys: readonly string[]): Promise<void> {
    await forEachLimit(keys, 8, (key) => this.#delete(key));
  }

  protected async listChecked(request: CheckedList): Promise<ListPage> {
    const { prefix, limit, after, recursive } = request;
    const slash = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, slash + 1);
    const namePrefix = prefix.slice(slash + 1);
    const dir = join(this.#root, dirKey);
    try {
      if (dirKey !== '') await this.#checkDir(dir, prefix);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR')
        return { objects: [], prefixes: [], cursor: undefined };
      throw mapFsError(err, prefix);
    }
    const found: { key: string; path: string; prefix: boolean }[] = [];
    const walk = async (
      absolute: string,
      keyPrefix: string,
      startsWith: string,
    ): Promise<boolean> => {
      let entries;
      try {
        entries = await readdir(absolute, { withFileTypes: true });
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return false;
        throw err;
      }
      const sorted = entries
        .filter(
          (e) =>
            e.name.startsWith(startsWith) &&
            !e.name.startsWith(reservedPrefix) &&
            (e.isFile() || e.isDirectory()),
        )
        .map((e) => ({
          name: e.name,
          dir: e.isDirectory(),
          sortKey: e.isDirectory() ? `${e.name}/` : e.name,
        }))
        .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
      for (const entry of sorted) {
        const key = keyPrefix + entry.sortKey;
        if (!entry.dir) {
          if (after !== undefined && compareKeys(key, after) <= 0) continue;
          found.push({ key, path: join(absolute, entry.name), prefix: false });
        } else if (!recursive) {
          if (after !== undefined && compareKeys(key, after) <= 0) continue;
          found.push({ key, path: join(absolute, entry.name), prefix: true });
        } else {
          // Skip a whole subtree when every key in it sorts before the cursor.
          if (after !== undefined && compareKeys(key, after) < 0 && !after.startsWith(key))
            continue;
          if (await walk(join(absolute, entry.name), key, '')) return true;
        }
        if (found.length > limit) return true;
      }
      return false;
    };
    try {
      await walk(dir, dirKey, namePrefix);
    } catch (err) {
      throw mapFsError(err, prefix);
    }
    const more = found.length > limit;
    const page = found.slice(0, limit);
    const objects: (ListedObject | undefined)[] = new Array<ListedObject | undefined>(page.length);
    const prefixes: string[] = [];
    await forEachLimit(
      page.map((entry, index) => ({ entry, index })),
      16,
      async ({ entry, index }) => {
        if (entry.prefix) return;
        try {
          const stats = await lstat(entry.path);
          objects[index] = {
            key: entry.key,
            size: Math.max(0, stats.size - headerSize),
            modified: stats.mtime,
          };
        } catch (err) {
          // Deleted since the directory was read: it is simply not listed.
          if (errnoOf(err) !== 'ENOENT') throw mapFsError(err, entry.key);
        }
      },
    );
    for (const entry of page) if (entry.prefix) prefixes.push(entry.key);
    const last = page.at(-1);
    return {
      objects: objects.filter((o): o is ListedObject => o !== undefined),
      prefixes,
      cursor: more && last !== undefined ? encodeCursor(last.key) : undefined,
    };
  }

  /** The path of an existing object (copy and move sources); NotFound otherwise. */
  async #existingFile(key: string): Promise<string> {
    const path = this.#path(key);
    try {
      await this.#checkDir(dirname(path), key);
      if (!(await lstat(path)).isFile()) throw new BlobNotFoundError(key);
    } catch (err) {
      throw mapFsError(err, key);
    }
    return path;
  }

  protected async copyChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void> {
    const from = await this.#existingFile(source);
    const to = this.#path(destination);
    let temp: string | undefined;
    try {
      if (ifNoneMatch && (await this.#exists(to)))
        throw new BlobPreconditionFailedError(destination);
      await this.#ensureDir(dirname(to), destination);
      temp = join(dirname(to), `${tempPrefix}${randomBytes(8).toString('hex')}`);
      try {
        await copyFile(from, temp, constants.COPYFILE_EXCL);
      } catch (err) {
        throw mapFsError(err, source);
      }
      if (this.#config.fsync) {
        const handle = await open(temp, constants.O_RDONLY);
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      await this.#publish(temp, to, destination, ifNoneMatch);
      temp = undefined;
    } catch (err) {
      if (temp !== undefined) await removeIfPresent(temp);
      throw mapFsError(err, destination);
    }
  }

  protected async moveChecked(
    source: string,
    destination: string,
    ifNoneMatch: boolean,
  ): Promise<void> {
    const from = await this.#existingFile(source);
    const to = this.#path(destination);
    try {
      await this.#ensureDir(dirname(to), destination);
      await this.#renameOnto(from, to, destination, ifNoneMatch);
      if (this.#config.fsync) {
        await fsyncDirectory(dirname(to));
        if (dirname(from) !== dirname(to)) await fsyncDirectory(dirname(from));
      }
      await this.#prune(dirname(from));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BlobNotFoundError(source, { cause: err });
      throw mapFsError(err, destination);
    }
  }

  protected presignChecked(request: CheckedPresign): Promise<string> {
    const { key, method, seconds, contentType } = request;
    const signing = this.#config.signing;
    if (signing === undefined) {
      return Promise.reject(
        new BlobUnsupportedError(
          'presign: this POSIX store has no signing configuration (blob.signing)',
        ),
      );
    }
    return Promise.resolve(
      signPosixUrl({
        baseUrl: signing.baseUrl,
        secret: signing.secret,
        key,
        method,
        expires: Math.floor(Date.now() / 1000) + seconds,
        contentType,
      }),
    );
  }

  async cleanup(options: CleanupOptions = {}): Promise<{ readonly removed: number }> {
    this.assertOpen();
    const olderThanMs = options.olderThanMs ?? 24 * 3600 * 1000;
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && entry.name.startsWith(tempPrefix)) {
          try {
            if ((await lstat(path)).mtimeMs <= cutoff) {
              await unlink(path);
              removed++;
            }
          } catch (err) {
            // Published or removed by its writer meanwhile.
            if (errnoOf(err) !== 'ENOENT') throw err;
          }
        }
      }
    };
    await walk(await this.#realRoot().then(() => this.#root));
    return { removed };
  }

  protected release(): Promise<void> {
    return Promise.resolve();
  }
}
