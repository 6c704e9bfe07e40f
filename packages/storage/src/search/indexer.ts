import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import { backoffDelay as sharedBackoff } from '@switchboard/runtime';
import type { ResolvedSearchConfig } from './config.js';
import { SearchError, SearchErrorKind, describeEsError, toSearchError } from './errors.js';

/** A document Elasticsearch refused for good, handed to the caller's `onDeadLetter`. */
export interface DeadLetter<T> {
  /** The document id (a CDR's call id). */
  readonly id: string;
  /** The alias the document was written to. */
  readonly index: string;
  readonly document: T;
  /** Why, e.g. `mapper_parsing_exception: failed to parse field [start]…`. */
  readonly reason: string;
  /** The item's HTTP status, when Elasticsearch answered one (400, 429, 503…). */
  readonly status: number | undefined;
  /** Elasticsearch's error type, e.g. `strict_dynamic_mapping_exception`. */
  readonly type: string | undefined;
  /** Attempts made, the first included. */
  readonly attempts: number;
}

export interface IndexerOptions<T> {
  /**
   * Receives every document rejected for good: a mapping error, any 4xx but 429, or 429/5xx once
   * `retry.maxAttempts` are spent. Awaited, so a slow sink slows the indexer down. If it throws,
   * the letter still counts in `stats.deadLettered` and the next `flush()`/`close()` rejects
   * with `SWB_SEARCH_DEAD_LETTER_FAILED`.
   */
  readonly onDeadLetter: (letter: DeadLetter<T>) => void | Promise<void>;
  /** Refresh after each bulk request, so the documents are searchable when `flush()` resolves. */
  readonly refresh?: boolean | 'wait_for' | undefined;
}

export interface IndexerStats {
  /** Documents accepted by `add()`. */
  readonly added: number;
  readonly indexed: number;
  /** Item retries (one document retried twice counts two). */
  readonly retried: number;
  readonly deadLettered: number;
  /** NDJSON bytes buffered or in flight, bounded by `bulk.maxBytesInFlight`. */
  readonly bytesInFlight: number;
  /** Bulk requests in flight. */
  readonly requestsInFlight: number;
}

/**
 * Bulk indexing into one alias with bounded memory. `add()` resolves once the document is
 * buffered, and waits first while the bytes buffered or in flight would pass
 * `bulk.maxBytesInFlight`: that wait is the backpressure. `flush()` sends what is buffered and
 * resolves when every document added before it is indexed or dead-lettered.
 */
export interface SearchIndexer<T> {
  add(doc: T): Promise<void>;
  flush(): Promise<void>;
  /** Flushes, then refuses further `add()`s (`SWB_SEARCH_CLOSED`). Idempotent. */
  close(): Promise<void>;
  readonly stats: IndexerStats;
}

interface Item<T> {
  readonly id: string;
  readonly doc: T;
  readonly action: string;
  readonly source: string;
  readonly bytes: number;
}

interface Waiter<T> {
  readonly item: Item<T>;
  readonly resolve: () => void;
}

export interface BulkIndexerDeps<T> {
  readonly client: Client;
  /** The alias (or, while reindexing, the new index) the documents go to. */
  readonly alias: string;
  /** Refuse to write unless `alias` is an alias, so a missing one is never auto-created as an index. */
  readonly requireAlias: boolean;
  readonly idOf: (doc: T) => unknown;
  /** Makes sure the alias exists before the first request (memoised by the caller). */
  readonly ensure: () => Promise<unknown>;
  readonly config: ResolvedSearchConfig;
  readonly random: () => number;
  /** Called after each bulk request settles (retries included), with its counts; must not throw. */
  readonly onBatch?:
    ((batch: { readonly indexed: number; readonly failed: number }) => void) | undefined;
  /** Called once the indexer has closed. */
  readonly onClosed?: (() => void) | undefined;
}

/** Full jitter: a delay drawn from [0, min(max, base·2^(attempt−1))). */
export function backoffDelay(
  attempt: number,
  retry: { readonly baseDelayMs: number; readonly maxDelayMs: number },
  random: () => number,
): number {
  return sharedBackoff(
    attempt,
    { baseMs: retry.baseDelayMs, maxMs: retry.maxDelayMs, jitter: 'full' },
    random,
  );
}

type Outcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly transient: boolean;
      readonly status: number | undefined;
      readonly type: string | undefined;
      readonly reason: string;
    };

function itemOutcome(
  result: { readonly status: number; readonly error?: unknown } | undefined,
): Outcome {
  if (result === undefined) {
    return {
      ok: false,
      transient: true,
      status: undefined,
      type: undefined,
      reason: 'the bulk response had no result for this item',
    };
  }
  if (result.status >= 200 && result.status < 300) return { ok: true };
  const { type, reason } = describeEsError({ error: result.error });
  return {
    ok: false,
    transient: result.status === 429 || result.status >= 500,
    status: result.status,
    type,
    reason:
      reason === '' ? `HTTP ${result.status}` : type === undefined ? reason : `${type}: ${reason}`,
  };
}

export class BulkIndexer<T> implements SearchIndexer<T> {
  readonly #deps: BulkIndexerDeps<T>;
  readonly #options: IndexerOptions<T>;
  readonly #buffer: Item<T>[] = [];
  #bufferBytes = 0;
  #bytes = 0;
  readonly #waiters: Waiter<T>[] = [];
  readonly #active = new Set<Promise<void>>();
  #flushRequested = false;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #sinkError: unknown;
  #added = 0;
  #indexed = 0;
  #retried = 0;
  #deadLettered = 0;

  constructor(deps: BulkIndexerDeps<T>, options: IndexerOptions<T>) {
    this.#deps = deps;
    this.#options = options;
  }

  get stats(): IndexerStats {
    return {
      added: this.#added,
      indexed: this.#indexed,
      retried: this.#retried,
      deadLettered: this.#deadLettered,
      bytesInFlight: this.#bytes,
      requestsInFlight: this.#active.size,
    };
  }

  async add(doc: T): Promise<void> {
    if (this.#closing !== undefined) {
      throw new SearchError(SearchErrorKind.Closed, `indexer for ${this.#deps.alias} is closed`);
    }
    const item = this.#prepare(doc);
    this.#added++;
    const max = this.#deps.config.bulk.maxBytesInFlight;
    // A document larger than the whole bound is let through alone, or it could never be sent.
    if (this.#waiters.length === 0 && (this.#bytes + item.bytes <= max || this.#bytes === 0)) {
      this.#accept(item);
      return;
    }
    const admitted = new Promise<void>((resolve) => {
      this.#waiters.push({ item, resolve });
    });
    // What is buffered must go out now, or the bytes it holds would never be released.
    this.#flushRequested = true;
    this.#dispatch();
    await admitted;
  }

  async flush(): Promise<void> {
    while (this.#buffer.length > 0 || this.#active.size > 0 || this.#waiters.length > 0) {
      this.#flushRequested = true;
      this.#dispatch();
      await Promise.all(this.#active);
    }
    this.#flushRequested = false;
    if (this.#sinkError !== undefined) {
      const cause = this.#sinkError;
      this.#sinkError = undefined;
      throw new SearchError(
        SearchErrorKind.DeadLetterFailed,
        `the dead-letter sink of ${this.#deps.alias} failed; the letters are counted in stats.deadLettered`,
        { cause },
      );
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.flush().finally(() => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#deps.onClosed?.();
    });
    return this.#closing;
  }

  #prepare(doc: T): Item<T> {
    const id = this.#deps.idOf(doc);
    if (typeof id !== 'string' || id === '' || Buffer.byteLength(id) > 512) {
      throw new SearchError(
        SearchErrorKind.InvalidArgument,
        `document for ${this.#deps.alias} has no valid id (a non-empty string of at most 512 bytes)`,
      );
    }
    let source: string | undefined;
    try {
      source = JSON.stringify(doc);
    } catch (err) {
      throw new SearchError(
        SearchErrorKind.InvalidArgument,
        `document ${JSON.stringify(id)} cannot be serialised to JSON`,
        { cause: err },
      );
    }
    if (typeof source !== 'string' || !source.startsWith('{')) {
      throw new SearchError(
        SearchErrorKind.InvalidArgument,
        `document ${JSON.stringify(id)} is not a JSON object`,
      );
    }
    const action = JSON.stringify({ index: { _id: id } });
    return {
      id,
      doc,
      action,
      source,
      bytes: Buffer.byteLength(action) + Buffer.byteLength(source) + 2,
    };
  }

  #accept(item: Item<T>): void {
    this.#bytes += item.bytes;
    this.#buffer.push(item);
    this.#bufferBytes += item.bytes;
    const { flushBytes, flushDocs, flushIntervalMs } = this.#deps.config.bulk;
    if (this.#bufferBytes >= flushBytes || this.#buffer.length >= flushDocs) this.#dispatch();
    if (this.#buffer.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flushRequested = true;
        this.#dispatch();
      }, flushIntervalMs);
    }
  }

  #release(bytes: number): void {
    this.#bytes -= bytes;
    const max = this.#deps.config.bulk.maxBytesInFlight;
    // Admission is synchronous and in order, so a flush loop sees the admitted items at once.
    while (this.#waiters.length > 0) {
      const next = this.#waiters[0];
      if (next === undefined || (this.#bytes + next.item.bytes > max && this.#bytes > 0)) break;
      this.#waiters.shift();
      this.#accept(next.item);
      next.resolve();
    }
  }

  #dispatch(): void {
    const { flushBytes, flushDocs, concurrency } = this.#deps.config.bulk;
    while (this.#buffer.length > 0 && this.#active.size < concurrency) {
      const full = this.#bufferBytes >= flushBytes || this.#buffer.length >= flushDocs;
      if (!full && !this.#flushRequested) return;
      const batch: Item<T>[] = [];
      let bytes = 0;
      while (batch.length < flushDocs && bytes < flushBytes) {
        const item = this.#buffer.shift();
        if (item === undefined) break;
        batch.push(item);
        bytes += item.bytes;
      }
      this.#bufferBytes -= bytes;
      const run: Promise<void> = this.#run(batch).finally(() => {
        this.#active.delete(run);
        this.#dispatch();
      });
      this.#active.add(run);
    }
    if (this.#buffer.length === 0) {
      this.#flushRequested = false;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Sends one batch, retrying its 429/5xx items; never rejects: every item ends indexed or dead-lettered. */
  async #run(batch: readonly Item<T>[]): Promise<void> {
    const { client, alias, config } = this.#deps;
    const { maxAttempts } = config.retry;
    let items = batch;
    let indexed = 0;
    let failed = 0;
    for (let attempt = 1; items.length > 0; attempt++) {
      const retry: Item<T>[] = [];
      const letters: Array<Promise<void>> = [];
      const last = attempt >= maxAttempts;
      const settle = (item: Item<T>, outcome: Outcome): void => {
        if (outcome.ok) {
          indexed++;
          this.#indexed++;
          this.#release(item.bytes);
          return;
        }
        if (outcome.transient && !last) {
          retry.push(item);
          return;
        }
        failed++;
        const { status, type, reason, transient } = outcome;
        letters.push(
          this.#deadLetter(item, {
            reason: transient ? `gave up after ${attempt} attempts: ${reason}` : reason,
            status,
            type,
            attempts: attempt,
          }),
        );
      };
      try {
        await this.#deps.ensure();
        const response = await client.bulk({
          index: alias,
          ...(this.#deps.requireAlias ? { require_alias: true } : {}),
          ...(this.#options.refresh === undefined ? {} : { refresh: this.#options.refresh }),
          operations: items.flatMap((item) => [item.action, item.source]),
        });
        items.forEach((item, n) => {
          settle(item, itemOutcome(response.items[n]?.index));
        });
      } catch (err) {
        // A request refused as a whole: retried if it may pass later (429, 5xx, connection),
        // otherwise (auth, a missing alias) every item in it fails for good, with the reason.
        const error = toSearchError(err, `bulk request to ${alias}`);
        const outcome: Outcome = {
          ok: false,
          transient: error.retryable,
          status: error.status,
          type: error.type,
          reason: error.message,
        };
        for (const item of items) settle(item, outcome);
      }
      await Promise.all(letters);
      if (retry.length === 0) break;
      this.#retried += retry.length;
      await sleep(backoffDelay(attempt, config.retry, this.#deps.random));
      items = retry;
    }
    this.#deps.onBatch?.({ indexed, failed });
  }

  async #deadLetter(
    item: Item<T>,
    details: Pick<DeadLetter<T>, 'reason' | 'status' | 'type' | 'attempts'>,
  ): Promise<void> {
    this.#deadLettered++;
    try {
      await this.#options.onDeadLetter({
        id: item.id,
        index: this.#deps.alias,
        document: item.doc,
        ...details,
      });
    } catch (err) {
      this.#sinkError ??= err;
    } finally {
      this.#release(item.bytes);
    }
  }
}
