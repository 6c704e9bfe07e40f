import { Client, type estypes } from '@elastic/elasticsearch';
import { resolveSearchConfig, type ResolvedSearchConfig, type SearchConfig } from './config.js';
import {
  SearchError,
  SearchErrorKind,
  SearchReindexError,
  isSearchError,
  toSearchError,
} from './errors.js';
import {
  BulkIndexer,
  type DeadLetter,
  type IndexerOptions,
  type SearchIndexer,
} from './indexer.js';
import {
  buildSearchBody,
  decodeCursor,
  encodeCursor,
  queryDigest,
  readAggregations,
  type SearchPage,
  type SearchQuery,
  type TimeBound,
} from './query.js';
import {
  CallDisposition,
  searchDocumentTypes,
  searchSchemas,
  type SearchDocumentType,
  type SearchDocuments,
} from './schema.js';

export interface SearchDeps {
  /**
   * A client built elsewhere (tests pass one over `@elastic/elasticsearch-mock`'s connection).
   * `close()` leaves an injected client open; its owner closes it.
   */
  readonly client?: Client | undefined;
  /** The jitter source of retry backoff, in [0, 1). Default `Math.random`. */
  readonly random?: (() => number) | undefined;
}

export interface EnsureIndexResult {
  readonly alias: string;
  /** The concrete index behind the alias. */
  readonly index: string;
  /** Whether this call created it. */
  readonly created: boolean;
}

export interface ReindexProgress {
  readonly phase: 'indexing' | 'swapped';
  /** Documents taken from the source. */
  readonly read: number;
  readonly indexed: number;
  /** Documents dead-lettered (refused, retries spent, or without a valid id). */
  readonly failed: number;
}

export interface ReindexOptions<T> {
  readonly onDeadLetter: (letter: DeadLetter<T>) => void | Promise<void>;
  /** Called after every bulk request and once after the swap. */
  readonly onProgress?: ((progress: ReindexProgress) => void) | undefined;
  /** Failed documents tolerated before the swap is refused (default 0). */
  readonly maxFailures?: number | undefined;
  /** Delete the previous index after the swap (default false: the caller deletes it). */
  readonly deletePrevious?: boolean | undefined;
  /** The new index's version (default: the current one + 1). */
  readonly version?: number | undefined;
}

export interface ReindexResult extends Omit<ReindexProgress, 'phase'> {
  readonly alias: string;
  /** The new index, now behind the alias. */
  readonly index: string;
  /** The index the alias pointed at before, if any; still there unless `previousDeleted`. */
  readonly previous: string | undefined;
  readonly previousDeleted: boolean;
}

export interface CallStatsQuery {
  readonly from: TimeBound;
  readonly to: TimeBound;
  readonly filters?: SearchQuery<'cdr'>['filters'];
  /** Default `hour`. */
  readonly interval?: 'minute' | 'hour' | 'day' | undefined;
  /** IANA zone or offset the buckets start in (default UTC). */
  readonly timeZone?: string | undefined;
}

export interface CallStats {
  readonly total: number;
  /** One bucket per interval from `from` to `to`, empty ones included. */
  readonly calls: readonly { readonly start: string; readonly count: number }[];
  /** Every disposition, 0 when no call ended so. */
  readonly byDisposition: Readonly<Record<CallDisposition, number>>;
}

/** What `createSearch` returns. */
export interface Search {
  readonly config: ResolvedSearchConfig;
  /** The client in use, for anything this module does not wrap. */
  readonly client: Client;
  /** `<prefix>-<type>`: the alias every read and write goes through. */
  aliasOf(type: SearchDocumentType): string;
  /** `<prefix>-<type>-v<version>`. */
  indexName(type: SearchDocumentType, version: number): string;
  /** Puts the index templates (mappings and settings) of every type. Idempotent. */
  ensureTemplates(): Promise<void>;
  /** Makes sure `<prefix>-<type>` is an alias of an index, creating `-v1` if not. Idempotent. */
  ensureIndex(type: SearchDocumentType): Promise<EnsureIndexResult>;
  /** The concrete index behind the alias, or undefined when there is no alias yet. */
  currentIndex(type: SearchDocumentType): Promise<string | undefined>;
  /** A bulk indexer writing to the type's alias; `close()` closes it too. */
  indexer<K extends SearchDocumentType>(
    type: K,
    options: IndexerOptions<SearchDocuments[K]>,
  ): SearchIndexer<SearchDocuments[K]>;
  /** One page of hits (and aggregations); pass `cursor` back for the next. */
  query<K extends SearchDocumentType>(
    type: K,
    query: SearchQuery<K>,
  ): Promise<SearchPage<SearchDocuments[K]>>;
  /** Frees the point in time of a cursor the caller stops paging through early. */
  releaseCursor(cursor: string): Promise<void>;
  /** Calls per interval and per disposition over a time range. */
  callStats(query: CallStatsQuery): Promise<CallStats>;
  /**
   * Indexes `source` into a new version of the type's index, then moves the alias to it in one
   * `_aliases` request (remove + add), so readers and writers switch at once.
   */
  reindex<K extends SearchDocumentType>(
    type: K,
    source: AsyncIterable<SearchDocuments[K]> | Iterable<SearchDocuments[K]>,
    options: ReindexOptions<SearchDocuments[K]>,
  ): Promise<ReindexResult>;
  /** Closes every indexer (flushing it), then the client if this module built it. Idempotent. */
  close(): Promise<void>;
}

// The ESM build of the client does not export `ClientOptions`.
type ClientOptions = ConstructorParameters<typeof Client>[0];

function clientOptions(config: ResolvedSearchConfig): ClientOptions {
  const { auth } = config;
  return {
    node: [...config.nodes],
    requestTimeout: config.requestTimeoutMs,
    maxRetries: config.retry.requestRetries,
    compression: config.compression,
    // Authorization headers are removed from the metadata of the errors the client throws.
    redaction: { type: 'remove' },
    ...(auth === undefined
      ? {}
      : 'apiKey' in auth
        ? { auth: { apiKey: auth.apiKey.reveal() } }
        : { auth: { username: auth.username, password: auth.password.reveal() } }),
  };
}

const versionPattern = /-v(\d+)$/;

/**
 * Creates the search layer over Elasticsearch: index templates and versioned indices behind
 * aliases, bounded bulk indexing with per-document retry and dead letters, paged search with a
 * point in time, analytics, and reindexing with an atomic alias swap. The configuration is
 * validated once, here (`ConfigError` names every bad field).
 */
export function createSearch(config: SearchConfig, deps: SearchDeps = {}): Search {
  const resolved = resolveSearchConfig(config, { nodeRequired: deps.client === undefined });
  const ownsClient = deps.client === undefined;
  const client = deps.client ?? new Client(clientOptions(resolved));
  const random = deps.random ?? Math.random;
  const indexers = new Set<{ close(): Promise<void> }>();
  const ensured = new Map<SearchDocumentType, Promise<EnsureIndexResult>>();
  let templates: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const keepAlive = `${resolved.pointInTimeKeepAliveSeconds}s`;

  const aliasOf = (type: SearchDocumentType): string => `${resolved.indexPrefix}-${type}`;
  const indexName = (type: SearchDocumentType, version: number): string =>
    `${aliasOf(type)}-v${version}`;

  function open(): void {
    if (closing !== undefined) throw new SearchError(SearchErrorKind.Closed, 'search is closed');
  }

  function checkType(type: unknown): asserts type is SearchDocumentType {
    if (!searchDocumentTypes.includes(type as SearchDocumentType)) {
      throw new SearchError(
        SearchErrorKind.InvalidArgument,
        `unknown document type ${JSON.stringify(type)}; expected one of ${searchDocumentTypes.join(', ')}`,
      );
    }
  }

  async function call<R>(action: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (err) {
      throw toSearchError(err, action);
    }
  }

  async function putTemplates(): Promise<void> {
    for (const type of searchDocumentTypes) {
      const schema = searchSchemas[type];
      const settings: estypes.IndicesIndexSettings = {
        ...(resolved.numberOfShards === undefined
          ? {}
          : { number_of_shards: resolved.numberOfShards }),
        ...(resolved.numberOfReplicas === undefined
          ? {}
          : { number_of_replicas: resolved.numberOfReplicas }),
      };
      await call(`put index template ${aliasOf(type)}`, () =>
        client.indices.putIndexTemplate({
          name: aliasOf(type),
          index_patterns: [`${aliasOf(type)}-v*`],
          // Above the built-in templates (priority ≤ 100), so ours decides for these names.
          priority: 500,
          version: schema.schemaVersion,
          _meta: { managed_by: 'switchboard', schema_version: schema.schemaVersion },
          template: { settings, mappings: schema.mappings },
        }),
      );
    }
  }

  function ensureTemplates(): Promise<void> {
    // Memoised only on success: a failure is retried by the next call.
    templates ??= putTemplates().catch((err: unknown) => {
      templates = undefined;
      throw err;
    });
    return templates;
  }

  async function currentIndex(type: SearchDocumentType): Promise<string | undefined> {
    checkType(type);
    try {
      const aliases = await client.indices.getAlias({ name: aliasOf(type) });
      const indices = Object.keys(aliases).sort();
      if (indices.length > 1) {
        throw new SearchError(
          SearchErrorKind.Conflict,
          `alias ${aliasOf(type)} points at several indices (${indices.join(', ')}); expected one`,
        );
      }
      return indices[0];
    } catch (err) {
      if (isSearchError(err)) throw err;
      const error = toSearchError(err, `get alias ${aliasOf(type)}`);
      if (error.kind === SearchErrorKind.NotFound) return undefined;
      throw error;
    }
  }

  async function createIndex(type: SearchDocumentType): Promise<EnsureIndexResult> {
    await ensureTemplates();
    const alias = aliasOf(type);
    const existing = await currentIndex(type);
    if (existing !== undefined) return { alias, index: existing, created: false };
    const index = indexName(type, 1);
    try {
      await client.indices.create({ index, aliases: { [alias]: {} } });
      return { alias, index, created: true };
    } catch (err) {
      const error = toSearchError(err, `create index ${index}`);
      if (error.type !== 'resource_already_exists_exception') throw error;
      // Another process created it first; fine if it also made the alias.
      const raced = await currentIndex(type);
      if (raced === undefined) {
        throw new SearchError(
          SearchErrorKind.Conflict,
          `index ${index} exists but alias ${alias} does not point at it`,
          { cause: err, status: error.status, type: error.type },
        );
      }
      return { alias, index: raced, created: false };
    }
  }

  // The internal steps skip the closed check: an indexer flushing inside close() still needs them.
  function ensureIndex(type: SearchDocumentType): Promise<EnsureIndexResult> {
    checkType(type);
    let pending = ensured.get(type);
    if (pending === undefined) {
      pending = createIndex(type).catch((err: unknown) => {
        ensured.delete(type);
        throw err;
      });
      ensured.set(type, pending);
    }
    return pending;
  }

  function indexer<K extends SearchDocumentType>(
    type: K,
    options: IndexerOptions<SearchDocuments[K]>,
  ): SearchIndexer<SearchDocuments[K]> {
    open();
    checkType(type);
    if (typeof (options as Partial<typeof options>).onDeadLetter !== 'function') {
      throw new SearchError(SearchErrorKind.InvalidArgument, 'indexer needs an onDeadLetter sink');
    }
    const created = new BulkIndexer<SearchDocuments[K]>(
      {
        client,
        alias: aliasOf(type),
        requireAlias: true,
        idOf: searchSchemas[type].idOf,
        ensure: () => ensureIndex(type),
        config: resolved,
        random,
        onClosed: () => indexers.delete(created),
      },
      options,
    );
    indexers.add(created);
    return created;
  }

  async function closePit(id: string): Promise<void> {
    try {
      await client.closePointInTime({ id });
    } catch (err) {
      // An expired or unknown point in time is already gone, which is all closing asks for.
      const error = toSearchError(err, 'close point in time');
      if (error.kind !== SearchErrorKind.NotFound) throw error;
    }
  }

  async function query<K extends SearchDocumentType>(
    type: K,
    request: SearchQuery<K>,
  ): Promise<SearchPage<SearchDocuments[K]>> {
    open();
    checkType(type);
    const body = buildSearchBody(type, request);
    const digest = queryDigest(type, request);
    const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    if (cursor !== undefined && cursor.query !== digest) {
      throw new SearchError(
        SearchErrorKind.InvalidCursor,
        'the cursor belongs to another query: pass the same type, range, filters, text and order',
      );
    }
    const common = {
      query: body.query,
      track_total_hits: true,
      ...(body.aggs === undefined ? {} : { aggs: body.aggs }),
    };
    if (body.size === 0) {
      if (cursor !== undefined) {
        throw new SearchError(SearchErrorKind.InvalidArgument, 'size 0 takes no cursor');
      }
      const response = await call(`search ${aliasOf(type)}`, () =>
        client.search<SearchDocuments[K]>({ index: aliasOf(type), size: 0, ...common }),
      );
      return {
        hits: [],
        total: totalOf(response.hits.total),
        cursor: undefined,
        aggregations: readAggregations(response.aggregations),
      };
    }
    // A point in time keeps the pages on one snapshot, so an alias swap or new documents
    // between two pages neither skip nor repeat hits.
    let pit =
      cursor?.pit ??
      (
        await call(`open point in time on ${aliasOf(type)}`, () =>
          client.openPointInTime({ index: aliasOf(type), keep_alive: keepAlive }),
        )
      ).id;
    let response: estypes.SearchResponse<SearchDocuments[K]>;
    try {
      response = await client.search<SearchDocuments[K]>({
        ...common,
        size: body.size,
        sort: body.sort,
        pit: { id: pit, keep_alive: keepAlive },
        ...(cursor === undefined ? {} : { search_after: cursor.after }),
      });
    } catch (err) {
      const error = toSearchError(err, `search ${aliasOf(type)}`);
      // The search error is the one to report; a point in time not closed expires on its own.
      if (cursor === undefined) await closePit(pit).catch(() => undefined);
      if (cursor !== undefined && error.kind === SearchErrorKind.NotFound) {
        throw new SearchError(
          SearchErrorKind.InvalidCursor,
          'the cursor has expired (its point in time is gone); start again without a cursor',
          { cause: err, status: error.status, type: error.type },
        );
      }
      throw error;
    }
    pit = response.pit_id ?? pit;
    const hits = response.hits.hits.map((hit) => ({
      id: hit._id ?? '',
      index: hit._index,
      document: hit._source as SearchDocuments[K],
    }));
    const last = response.hits.hits.at(-1);
    let next: string | undefined;
    if (hits.length < body.size || last?.sort === undefined) {
      // The page is good whatever happens here: a point in time not closed expires on its own.
      await closePit(pit).catch(() => undefined);
    } else {
      next = encodeCursor({ pit, after: last.sort, query: digest });
    }
    return {
      hits,
      total: totalOf(response.hits.total),
      cursor: next,
      aggregations: readAggregations(response.aggregations),
    };
  }

  async function releaseCursor(text: string): Promise<void> {
    open();
    await closePit(decodeCursor(text).pit);
  }

  async function callStats(request: CallStatsQuery): Promise<CallStats> {
    const page = await query('cdr', {
      from: request.from,
      to: request.to,
      filters: request.filters,
      size: 0,
      aggregations: {
        histogram: { interval: request.interval ?? 'hour', timeZone: request.timeZone },
        terms: { field: 'disposition', size: 20 },
      },
    });
    const byDisposition = Object.fromEntries(
      Object.values(CallDisposition).map((d) => [d, 0]),
    ) as Record<CallDisposition, number>;
    for (const bucket of page.aggregations.terms ?? []) {
      if (bucket.value in byDisposition) {
        byDisposition[bucket.value as CallDisposition] = bucket.count;
      }
    }
    return { total: page.total.value, calls: page.aggregations.histogram ?? [], byDisposition };
  }

  async function reindex<K extends SearchDocumentType>(
    type: K,
    source: AsyncIterable<SearchDocuments[K]> | Iterable<SearchDocuments[K]>,
    options: ReindexOptions<SearchDocuments[K]>,
  ): Promise<ReindexResult> {
    open();
    checkType(type);
    const maxFailures = options.maxFailures ?? 0;
    if (!Number.isInteger(maxFailures) || maxFailures < 0) {
      throw new SearchError(SearchErrorKind.InvalidArgument, 'maxFailures must be an integer ≥ 0');
    }
    await ensureTemplates();
    const alias = aliasOf(type);
    const previous = await currentIndex(type);
    const currentVersion =
      previous === undefined ? 0 : Number(versionPattern.exec(previous)?.[1] ?? '0');
    const version = options.version ?? currentVersion + 1;
    if (!Number.isInteger(version) || version < 1 || version === currentVersion) {
      throw new SearchError(
        SearchErrorKind.InvalidArgument,
        `version must be an integer ≥ 1 other than the current ${currentVersion}`,
      );
    }
    const index = indexName(type, version);
    await call(`create index ${index}`, () => client.indices.create({ index }));

    let read = 0;
    let indexed = 0;
    let failed = 0;
    // A throwing onProgress stops the reindex (below), not the indexer's request loop.
    let progressError: Error | undefined;
    const progress = (phase: ReindexProgress['phase']): void => {
      try {
        options.onProgress?.({ phase, read, indexed, failed });
      } catch (err) {
        progressError ??= err instanceof Error ? err : new Error(String(err));
      }
    };
    const bulk = new BulkIndexer<SearchDocuments[K]>(
      {
        client,
        alias: index,
        requireAlias: false,
        idOf: searchSchemas[type].idOf,
        ensure: () => Promise.resolve(),
        config: resolved,
        random,
        onBatch: (batch) => {
          indexed += batch.indexed;
          failed += batch.failed;
          progress('indexing');
        },
      },
      { onDeadLetter: options.onDeadLetter },
    );
    const details = (): { index: string; read: number; indexed: number; failed: number } => ({
      index,
      read,
      indexed,
      failed,
    });
    try {
      for await (const doc of source) {
        if (progressError !== undefined) break;
        read++;
        try {
          await bulk.add(doc);
        } catch (err) {
          if (!isSearchError(err, SearchErrorKind.InvalidArgument)) throw err;
          // A document without a usable id or JSON form is a dead letter like any other.
          failed++;
          await options.onDeadLetter({
            id: '',
            index,
            document: doc,
            reason: err.message,
            status: undefined,
            type: undefined,
            attempts: 0,
          });
        }
      }
      await bulk.close();
      if (progressError !== undefined) throw progressError;
    } catch (err) {
      // The first error is the one to report; close() only drains what was already added.
      await bulk.close().catch(() => undefined);
      throw new SearchReindexError(
        `reindex of ${alias} into ${index} stopped: ${err instanceof Error ? err.message : String(err)}; the alias still points at ${previous ?? 'nothing'}`,
        details(),
        { cause: err },
      );
    }
    if (failed > maxFailures) {
      throw new SearchReindexError(
        `reindex of ${alias} into ${index}: ${failed} documents failed (maxFailures ${maxFailures}); the alias still points at ${previous ?? 'nothing'}`,
        details(),
      );
    }
    await call(`refresh ${index}`, () => client.indices.refresh({ index }));
    const actions: NonNullable<estypes.IndicesUpdateAliasesAction>[] = [
      ...(previous === undefined ? [] : [{ remove: { index: previous, alias, must_exist: true } }]),
      { add: { index, alias } },
    ];
    // One request: Elasticsearch applies both actions atomically, or neither.
    await call(`swap alias ${alias} to ${index}`, () => client.indices.updateAliases({ actions }));
    ensured.set(type, Promise.resolve({ alias, index, created: false }));
    let previousDeleted = false;
    if (previous !== undefined && options.deletePrevious === true) {
      await call(`delete index ${previous}`, () => client.indices.delete({ index: previous }));
      previousDeleted = true;
    }
    options.onProgress?.({ phase: 'swapped', read, indexed, failed });
    return { alias, index, previous, previousDeleted, read, indexed, failed };
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const results = await Promise.allSettled([...indexers].map((each) => each.close()));
      if (ownsClient) await client.close();
      const failure = results.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    })();
    return closing;
  }

  return {
    config: resolved,
    client,
    aliasOf,
    indexName,
    ensureTemplates: async () => {
      open();
      await ensureTemplates();
    },
    ensureIndex: async (type) => {
      open();
      return ensureIndex(type);
    },
    currentIndex: async (type) => {
      open();
      return currentIndex(type);
    },
    indexer,
    query,
    releaseCursor,
    callStats,
    reindex,
    close,
  };
}

function totalOf(total: estypes.SearchTotalHits | number | undefined): SearchPage<never>['total'] {
  if (typeof total === 'number') return { value: total, relation: 'eq' };
  return { value: total?.value ?? 0, relation: total?.relation ?? 'eq' };
}
