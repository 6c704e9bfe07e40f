import type { estypes } from '@elastic/elasticsearch';

/** How a call ended. */
export const CallDisposition = {
  Answered: 'answered',
  Busy: 'busy',
  NoAnswer: 'no-answer',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type CallDisposition = (typeof CallDisposition)[keyof typeof CallDisposition];

export const CallDirection = {
  Inbound: 'inbound',
  Outbound: 'outbound',
  Internal: 'internal',
} as const;
export type CallDirection = (typeof CallDirection)[keyof typeof CallDirection];

/**
 * A call detail record, as `sip-edge` publishes it in `call.ended`. Times are ISO 8601 strings
 * (or epoch milliseconds); `callId` is the document id, so indexing the same call twice leaves
 * one document.
 */
export interface CdrDocument {
  readonly callId: string;
  readonly from: string;
  readonly to: string;
  readonly direction: CallDirection;
  readonly disposition: CallDisposition;
  /** INVITE received. */
  readonly start: string | number;
  /** 200 OK sent; absent for calls never answered. */
  readonly answer?: string | number | undefined;
  /** BYE, CANCEL or the final failure. */
  readonly end: string | number;
  /** Seconds from start to end. */
  readonly durationSeconds: number;
  /** Seconds from answer to end (0 when not answered). */
  readonly billableSeconds?: number | undefined;
  /** The PBX node (media server) that handled the call, when one did. */
  readonly pbxNode?: string | undefined;
  /** The `sip-edge` instance that routed it. */
  readonly edge?: string | undefined;
  readonly tenant?: string | undefined;
  /** The final SIP status, e.g. 486 for busy. */
  readonly sipStatus?: number | undefined;
  /** Q.850 cause or the SIP reason phrase. */
  readonly hangupCause?: string | undefined;
  readonly sourceIp?: string | undefined;
  readonly userAgent?: string | undefined;
  /** The blob key of the recording, when the call was recorded. */
  readonly recordingKey?: string | undefined;
}

/**
 * Any other searchable record (voicemail, fax, audit entry): typed fields for what every kind
 * has, and free-form `attributes` (mapped `flattened`, so new keys never grow the mapping).
 */
export interface GenericDocument {
  readonly id: string;
  /** What the document is, e.g. `voicemail`. */
  readonly kind: string;
  readonly timestamp: string | number;
  readonly title?: string | undefined;
  readonly body?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly tenant?: string | undefined;
  readonly attributes?: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** The document types this module owns the mappings of, each behind `<prefix>-<type>`. */
export interface SearchDocuments {
  readonly cdr: CdrDocument;
  readonly doc: GenericDocument;
}
export type SearchDocumentType = keyof SearchDocuments;
export const searchDocumentTypes: readonly SearchDocumentType[] = Object.freeze(['cdr', 'doc']);

/** The keyword fields of each type, the ones `filters` and `terms` aggregations accept. */
export interface SearchKeywordFields {
  readonly cdr:
    | 'callId'
    | 'from'
    | 'to'
    | 'direction'
    | 'disposition'
    | 'pbxNode'
    | 'edge'
    | 'tenant'
    | 'hangupCause'
    | 'sipStatus';
  readonly doc: 'id' | 'kind' | 'tags' | 'tenant';
}

interface TypeSchema<T> {
  /** Bumped when the mapping changes; the template records it in `_meta`. */
  readonly schemaVersion: number;
  readonly idOf: (doc: T) => unknown;
  readonly idField: string;
  /** The field time-range filters and the histogram use; pages are sorted on it. */
  readonly timeField: string;
  /** Fields a full-text `text` query matches. */
  readonly textFields: readonly string[];
  readonly mappings: estypes.MappingTypeMapping;
}

const keyword: estypes.MappingProperty = { type: 'keyword' };
const date: estypes.MappingProperty = {
  type: 'date',
  format: 'strict_date_optional_time||epoch_millis',
};

/**
 * The mappings, owned here: `dynamic: 'strict'` makes a misspelt field a mapping error (the
 * document is dead-lettered with the reason) rather than a new field nobody queries.
 */
export const searchSchemas: { readonly [K in SearchDocumentType]: TypeSchema<SearchDocuments[K]> } =
  {
    cdr: {
      schemaVersion: 1,
      idOf: (doc) => doc.callId,
      idField: 'callId',
      timeField: 'start',
      textFields: [],
      mappings: {
        dynamic: 'strict',
        properties: {
          callId: keyword,
          from: keyword,
          to: keyword,
          direction: keyword,
          disposition: keyword,
          start: date,
          answer: date,
          end: date,
          durationSeconds: { type: 'long' },
          billableSeconds: { type: 'long' },
          pbxNode: keyword,
          edge: keyword,
          tenant: keyword,
          sipStatus: { type: 'short' },
          hangupCause: keyword,
          sourceIp: { type: 'ip' },
          userAgent: { type: 'keyword', ignore_above: 256 },
          recordingKey: { type: 'keyword', index: false },
        },
      },
    },
    doc: {
      schemaVersion: 1,
      idOf: (doc) => doc.id,
      idField: 'id',
      timeField: 'timestamp',
      textFields: ['title', 'body'],
      mappings: {
        dynamic: 'strict',
        properties: {
          id: keyword,
          kind: keyword,
          timestamp: date,
          title: { type: 'text', fields: { raw: { type: 'keyword', ignore_above: 256 } } },
          body: { type: 'text' },
          tags: keyword,
          tenant: keyword,
          attributes: { type: 'flattened' },
        },
      },
    },
  };
