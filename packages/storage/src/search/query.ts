import { createHash } from 'node:crypto';
import type { estypes } from '@elastic/elasticsearch';
import { SearchError, SearchErrorKind } from './errors.js';

// The client's `ExactlyOne<…>` unions carry `undefined` under `exactOptionalPropertyTypes`,
// which its own request types then refuse; these are the same types without it.
type Query = NonNullable<estypes.QueryDslQueryContainer>;
type Aggregation = NonNullable<estypes.AggregationsAggregationContainer>;
import { searchSchemas, type SearchDocumentType, type SearchKeywordFields } from './schema.js';

export type FilterValue = string | number | boolean;
export type TimeBound = Date | string | number;
export type CalendarInterval = 'minute' | 'hour' | 'day' | 'week' | 'month';

/** A search over one document type, always through its alias. */
export interface SearchQuery<K extends SearchDocumentType> {
  /** Documents whose time field (CDR `start`, document `timestamp`) is ≥ `from` … */
  readonly from?: TimeBound | undefined;
  /** … and < `to`. */
  readonly to?: TimeBound | undefined;
  /** Exact matches on keyword fields; an array matches any of its values. */
  readonly filters?:
    { readonly [F in SearchKeywordFields[K]]?: FilterValue | readonly FilterValue[] } | undefined;
  /** Full-text match on `title` and `body` (generic documents only). */
  readonly text?: string | undefined;
  /** On the time field, then the shard document order as a tie-breaker. Default `desc`. */
  readonly order?: 'asc' | 'desc' | undefined;
  /** Hits per page, 0–10000 (default 100); 0 for aggregations only. */
  readonly size?: number | undefined;
  /** The `cursor` of the previous page; pass the same query with it. */
  readonly cursor?: string | undefined;
  readonly aggregations?: SearchAggregationsRequest<K> | undefined;
}

export interface SearchAggregationsRequest<K extends SearchDocumentType> {
  /** Counts per calendar interval of the time field (a `date_histogram`). */
  readonly histogram?:
    | { readonly interval?: CalendarInterval | undefined; readonly timeZone?: string | undefined }
    | undefined;
  /** Counts per value of a keyword field (a `terms` aggregation), most frequent first. */
  readonly terms?:
    { readonly field: SearchKeywordFields[K]; readonly size?: number | undefined } | undefined;
}

export interface SearchHit<T> {
  readonly id: string;
  /** The concrete index (`<prefix>-cdr-v2`), not the alias. */
  readonly index: string;
  readonly document: T;
}

export interface TimeBucket {
  /** The bucket's start, ISO 8601 in the requested time zone. */
  readonly start: string;
  readonly count: number;
}

export interface TermBucket {
  readonly value: string;
  readonly count: number;
}

export interface SearchPage<T> {
  readonly hits: readonly SearchHit<T>[];
  readonly total: { readonly value: number; readonly relation: 'eq' | 'gte' };
  /** Pass it back for the next page; undefined on the last page. Opaque. */
  readonly cursor: string | undefined;
  readonly aggregations: {
    readonly histogram?: readonly TimeBucket[];
    readonly terms?: readonly TermBucket[];
  };
}

export interface Cursor {
  /** The point in time the pages read. */
  readonly pit: string;
  /** `search_after`: the last hit's sort values. */
  readonly after: estypes.SortResults;
  /** A digest of the query the cursor belongs to. */
  readonly query: string;
}

export const maxPageSize = 10_000;
export const defaultPageSize = 100;

function invalid(message: string): SearchError {
  return new SearchError(SearchErrorKind.InvalidArgument, message);
}

function timeValue(name: string, value: TimeBound): string | number {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(`${name} is an invalid Date`);
    return value.toISOString();
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') return value;
  throw invalid(`${name} must be a Date, an ISO 8601 string or epoch milliseconds`);
}

/** The digest binding a cursor to its query: the same filters, range, text and order. */
export function queryDigest(
  type: SearchDocumentType,
  query: SearchQuery<SearchDocumentType>,
): string {
  const filters = Object.entries(query.filters ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const canonical = JSON.stringify([
    type,
    query.from instanceof Date ? query.from.toISOString() : (query.from ?? null),
    query.to instanceof Date ? query.to.toISOString() : (query.to ?? null),
    filters,
    query.text ?? null,
    query.order ?? 'desc',
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(
    JSON.stringify({ v: 1, p: cursor.pit, a: cursor.after, q: cursor.query }),
  ).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  const fail = (): SearchError =>
    new SearchError(SearchErrorKind.InvalidCursor, 'the cursor is not one this module issued');
  if (typeof text !== 'string' || text === '' || !/^[A-Za-z0-9_-]+$/.test(text)) throw fail();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch (err) {
    throw new SearchError(SearchErrorKind.InvalidCursor, 'the cursor is not valid', { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null) throw fail();
  const { v, p, a, q } = parsed as Record<string, unknown>;
  if (v !== 1 || typeof p !== 'string' || typeof q !== 'string' || !Array.isArray(a)) throw fail();
  const after = a as unknown[];
  if (!after.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))) {
    throw fail();
  }
  return { pit: p, after: after as estypes.SortResults, query: q };
}

function millis(value: TimeBound): number {
  if (value instanceof Date) return value.getTime();
  return typeof value === 'number' ? value : Date.parse(value);
}

/**
 * Empty buckets from `from` up to, not including, `to` (the bounds are inclusive, `to` is not).
 * Bounds in date math or a format `Date.parse` cannot read are left to Elasticsearch.
 */
function boundsOf(
  from: TimeBound | undefined,
  to: TimeBound | undefined,
): { extended_bounds?: { min: number; max: number } } {
  if (from === undefined || to === undefined) return {};
  const min = millis(from);
  const max = millis(to) - 1;
  return Number.isFinite(min) && Number.isFinite(max) && min <= max
    ? { extended_bounds: { min, max } }
    : {};
}

/** The `query`, `sort` and `aggs` of a search request, validated. */
export function buildSearchBody(
  type: SearchDocumentType,
  query: SearchQuery<SearchDocumentType>,
): {
  query: Query;
  sort: estypes.SortCombinations[];
  aggs: Record<string, Aggregation> | undefined;
  size: number;
} {
  const schema = searchSchemas[type];
  const size = query.size ?? defaultPageSize;
  if (!Number.isInteger(size) || size < 0 || size > maxPageSize) {
    throw invalid(`size must be an integer from 0 to ${maxPageSize}`);
  }
  const order: unknown = query.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw invalid('order must be "asc" or "desc"');
  const filter: Query[] = [];
  if (query.from !== undefined || query.to !== undefined) {
    filter.push({
      range: {
        [schema.timeField]: {
          ...(query.from === undefined ? {} : { gte: timeValue('from', query.from) }),
          ...(query.to === undefined ? {} : { lt: timeValue('to', query.to) }),
        },
      },
    });
  }
  const keywordFields = new Set<string>(keywordFieldsOf[type]);
  for (const [field, value] of Object.entries(query.filters ?? {}) as [string, unknown][]) {
    if (!keywordFields.has(field))
      throw invalid(`cannot filter ${type} on ${JSON.stringify(field)}`);
    if (value === undefined) continue;
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.length === 0) throw invalid(`filter ${field} has no values`);
    if (!values.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
      throw invalid(`filter ${field} takes strings, numbers or booleans`);
    }
    const terms = values as FilterValue[];
    filter.push(
      terms.length === 1 ? { term: { [field]: terms[0] } } : { terms: { [field]: terms } },
    );
  }
  const must: Query[] = [];
  if (query.text !== undefined) {
    if (schema.textFields.length === 0) throw invalid(`${type} has no full-text fields`);
    must.push({ multi_match: { query: query.text, fields: [...schema.textFields] } });
  }
  let aggs: Record<string, Aggregation> | undefined;
  const { histogram, terms } = query.aggregations ?? {};
  if (histogram !== undefined) {
    aggs = {
      histogram: {
        date_histogram: {
          field: schema.timeField,
          calendar_interval: histogram.interval ?? 'hour',
          ...(histogram.timeZone === undefined ? {} : { time_zone: histogram.timeZone }),
          min_doc_count: 0,
          ...boundsOf(query.from, query.to),
        },
      },
    };
  }
  if (terms !== undefined) {
    if (!keywordFields.has(terms.field)) {
      throw invalid(`cannot aggregate ${type} on ${JSON.stringify(terms.field)}`);
    }
    const termsSize = terms.size ?? 20;
    if (!Number.isInteger(termsSize) || termsSize < 1 || termsSize > 10_000) {
      throw invalid('aggregations.terms.size must be an integer from 1 to 10000');
    }
    aggs = { ...aggs, terms: { terms: { field: terms.field, size: termsSize } } };
  }
  return {
    query: { bool: { filter, ...(must.length === 0 ? {} : { must }) } },
    sort: [{ [schema.timeField]: { order } }, { _shard_doc: { order } }],
    aggs,
    size,
  };
}

const keywordFieldsOf: { readonly [K in SearchDocumentType]: readonly SearchKeywordFields[K][] } = {
  cdr: [
    'callId',
    'from',
    'to',
    'direction',
    'disposition',
    'pbxNode',
    'edge',
    'tenant',
    'hangupCause',
    'sipStatus',
  ],
  doc: ['id', 'kind', 'tags', 'tenant'],
};

/** Reads the buckets of `buildSearchBody`'s aggregations from a response. */
export function readAggregations(
  aggregations: Record<string, estypes.AggregationsAggregate> | undefined,
): SearchPage<unknown>['aggregations'] {
  if (aggregations === undefined) return {};
  const out: { histogram?: TimeBucket[]; terms?: TermBucket[] } = {};
  const histogram = aggregations['histogram'] as
    estypes.AggregationsDateHistogramAggregate | undefined;
  if (histogram !== undefined && Array.isArray(histogram.buckets)) {
    out.histogram = histogram.buckets.map((bucket) => ({
      start: bucket.key_as_string ?? new Date(bucket.key).toISOString(),
      count: bucket.doc_count,
    }));
  }
  const terms = aggregations['terms'] as estypes.AggregationsStringTermsAggregate | undefined;
  if (terms !== undefined && Array.isArray(terms.buckets)) {
    out.terms = terms.buckets.map((bucket) => ({
      value: String(bucket.key),
      count: bucket.doc_count,
    }));
  }
  return out;
}
