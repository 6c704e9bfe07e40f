/** Bounds of the publish buffer that holds messages while the bus is disconnected. */
export interface BufferLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

/**
 * A FIFO bounded by message count and total bytes. `push` refuses (returns false) when either
 * bound would be exceeded; `unshift` (a publish that was in flight when the channel died going
 * back to the front) is never refused, since refusing it would lose a message already accepted.
 */
export class BoundedBuffer<T> {
  readonly limits: BufferLimits;
  #items: { readonly item: T; readonly bytes: number }[] = [];
  #bytes = 0;

  constructor(limits: BufferLimits) {
    this.limits = limits;
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(item: T, bytes: number): boolean {
    if (
      this.#items.length + 1 > this.limits.maxMessages ||
      this.#bytes + bytes > this.limits.maxBytes
    ) {
      return false;
    }
    this.#items.push({ item, bytes });
    this.#bytes += bytes;
    return true;
  }

  unshift(item: T, bytes: number): void {
    this.#items.unshift({ item, bytes });
    this.#bytes += bytes;
  }

  shift(): T | undefined {
    const head = this.#items.shift();
    if (head === undefined) return undefined;
    this.#bytes -= head.bytes;
    return head.item;
  }

  /** Empties the buffer, returning what it held in order. */
  drain(): T[] {
    const items = this.#items.map((entry) => entry.item);
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}
