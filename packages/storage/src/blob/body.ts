import { Readable } from 'node:stream';
import { BlobInvalidArgumentError } from './errors.js';
import type { BlobBody } from './types.js';

/** A body in one of two shapes: all in memory, or a stream of chunks of unknown total length. */
export type NormalizedBody =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | {
      readonly kind: 'stream';
      readonly chunks: AsyncIterable<Buffer>;
      readonly dispose: () => void;
    };

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** Checks `put`'s body and gives it one shape; anything else is `InvalidArgument`. */
export function normalizeBody(body: BlobBody): NormalizedBody {
  if (typeof body === 'string') return { kind: 'bytes', bytes: Buffer.from(body, 'utf8') };
  if (Buffer.isBuffer(body)) return { kind: 'bytes', bytes: body };
  if (body instanceof Uint8Array) {
    return { kind: 'bytes', bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  }
  if (isAsyncIterable(body)) {
    const source = body;
    return {
      kind: 'stream',
      chunks: chunksOf(source),
      dispose: () => {
        // A failed put must not leave the caller's stream open (a file descriptor, a socket).
        if (source instanceof Readable && !source.destroyed) source.destroy();
      },
    };
  }
  throw new BlobInvalidArgumentError(
    `body: expected a Buffer, Uint8Array, string, Readable or async iterable, got ${(body as unknown) === null ? 'null' : typeof body}`,
  );
}

async function* chunksOf(source: AsyncIterable<unknown>): AsyncIterable<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<unknown>;
    try {
      next = await iterator.next();
    } catch (err) {
      // The caller's stream failed, not the backend: say so, and keep its error as the cause.
      throw new BlobInvalidArgumentError(
        `body stream failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (next.done === true) return;
    const chunk = next.value;
    if (Buffer.isBuffer(chunk)) yield chunk;
    else if (chunk instanceof Uint8Array) {
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } else if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else {
      throw new BlobInvalidArgumentError(
        `body stream: expected Buffer or Uint8Array chunks, got ${chunk === null ? 'null' : typeof chunk}`,
      );
    }
  }
}
