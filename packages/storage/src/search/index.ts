// The public surface of the search layer (src/search): every export is named here.
export {
  resolveSearchConfig,
  searchDefaults,
  type ResolvedSearchConfig,
  type SearchAuthConfig,
  type SearchBulkConfig,
  type SearchConfig,
  type SearchRetryConfig,
} from './config.js';
export {
  SearchError,
  SearchErrorCode,
  SearchErrorKind,
  SearchReindexError,
  isSearchError,
  toSearchError,
} from './errors.js';
export {
  backoffDelay,
  type DeadLetter,
  type IndexerOptions,
  type IndexerStats,
  type SearchIndexer,
} from './indexer.js';
export {
  defaultPageSize,
  maxPageSize,
  type CalendarInterval,
  type FilterValue,
  type SearchAggregationsRequest,
  type SearchHit,
  type SearchPage,
  type SearchQuery,
  type TermBucket,
  type TimeBound,
  type TimeBucket,
} from './query.js';
export {
  CallDirection,
  CallDisposition,
  searchDocumentTypes,
  searchSchemas,
  type CdrDocument,
  type GenericDocument,
  type SearchDocumentType,
  type SearchDocuments,
  type SearchKeywordFields,
} from './schema.js';
export {
  createSearch,
  type CallStats,
  type CallStatsQuery,
  type EnsureIndexResult,
  type ReindexOptions,
  type ReindexProgress,
  type ReindexResult,
  type Search,
  type SearchDeps,
} from './search.js';
