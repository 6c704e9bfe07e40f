// Test doubles for the search layer: an Elasticsearch client over @elastic/elasticsearch-mock.
import { createRequire } from 'node:module';
import {
  Client,
  type BaseConnection,
  type ConnectionOptions,
  type ConnectionRequestOptions,
  type ConnectionRequestParams,
  type ConnectionRequestResponse,
} from '@elastic/elasticsearch';
import type MockModule from '@elastic/elasticsearch-mock';
import type { MockPattern } from '@elastic/elasticsearch-mock';

const require = createRequire(import.meta.url);

// The mock is CommonJS (`module.exports = Mocker`) but declares `export default`, which
// TypeScript's NodeNext resolution reads as `{ default }`: require() gives the right value and type.
const Mock = require('@elastic/elasticsearch-mock') as typeof MockModule.default;
type Mock = InstanceType<typeof Mock>;

/**
 * The client's error classes as the mock sees them. The mock `require()`s the client's CommonJS
 * build and tells an error resolver result apart with `instanceof`, while this (ESM) code imports
 * the client's ESM build, whose classes are different objects: an `errors.ResponseError` from
 * `import` would be sent as a 200 JSON body. Errors handed to the mock must come from here.
 */
export const mockErrors = (
  require('@elastic/elasticsearch') as typeof import('@elastic/elasticsearch')
).errors;

/** A resolver's answer: an error response of `status` with Elasticsearch's error body. */
export function errorResponse(status: number, type: string, reason: string): object {
  return new mockErrors.ResponseError({
    body: { error: { type, reason }, status },
    statusCode: status,
    headers: {},
    warnings: null,
    meta: {} as never,
  });
}

/** What a resolver receives (the mock parses JSON and NDJSON bodies). */
export interface MockRequest {
  readonly method: string;
  readonly path: string;
  readonly querystring: Record<string, string>;
  readonly body: unknown;
}

type Resolver = (params: MockRequest) => object | string;

interface RequestingConnection {
  request(
    params: ConnectionRequestParams,
    options: ConnectionRequestOptions,
  ): Promise<ConnectionRequestResponse>;
}

export interface MockCluster {
  readonly mock: Mock;
  readonly client: Client;
  /** Every request that reached the mock, in order. */
  readonly requests: MockRequest[];
  on(method: string | string[], path: string | string[], resolver: Resolver): void;
  /**
   * Holds every request whose path matches back until `release()` is called, so a test can look
   * at the state while responses are outstanding. The mock's resolvers are synchronous, so the
   * hold happens in the connection, before the mock sees the request.
   */
  hold(path: RegExp): { readonly held: () => number; release(): void };
}

export function createMockCluster(clientOptions: { maxRetries?: number } = {}): MockCluster {
  const mock = new Mock();
  const requests: MockRequest[] = [];
  const holds: Array<{ path: RegExp; gate: Promise<void>; count: number }> = [];
  const Base = mock.getConnection() as unknown as new (
    options: ConnectionOptions,
  ) => RequestingConnection;
  class HoldingConnection extends Base {
    override async request(
      params: ConnectionRequestParams,
      options: ConnectionRequestOptions,
    ): Promise<ConnectionRequestResponse> {
      for (const hold of holds) {
        if (hold.path.test(params.path)) {
          hold.count++;
          await hold.gate;
        }
      }
      return super.request(params, options);
    }
  }
  const client = new Client({
    node: 'http://localhost:9200',
    Connection: HoldingConnection as unknown as typeof BaseConnection,
    maxRetries: clientOptions.maxRetries ?? 0,
  });
  return {
    mock,
    client,
    requests,
    on(method, path, resolver) {
      mock.add({ method, path } satisfies MockPattern, (params: MockPattern) => {
        const request = params as unknown as MockRequest;
        requests.push(request);
        return resolver(request);
      });
    },
    hold(path) {
      let release!: () => void;
      const entry = {
        path,
        gate: new Promise<void>((resolve) => {
          release = resolve;
        }),
        count: 0,
      };
      holds.push(entry);
      return {
        held: () => entry.count,
        release() {
          holds.splice(holds.indexOf(entry), 1);
          release();
        },
      };
    },
  };
}

/** The bulk NDJSON of a request as [action, source] pairs. */
export function bulkPairs(request: MockRequest): Array<[Record<string, unknown>, unknown]> {
  const lines = request.body as unknown[];
  const pairs: Array<[Record<string, unknown>, unknown]> = [];
  for (let i = 0; i < lines.length; i += 2) {
    pairs.push([lines[i] as Record<string, unknown>, lines[i + 1]]);
  }
  return pairs;
}

/** The ids of a bulk request, in order. */
export function bulkIds(request: MockRequest): string[] {
  return bulkPairs(request).map(([action]) => (action['index'] as { _id: string })._id);
}

/** A bulk response giving each item the status `statusOf(id)` returns (200 by default). */
export function bulkResponse(
  request: MockRequest,
  statusOf: (id: string) => number | { status: number; type: string; reason: string } = () => 200,
): object {
  const items = bulkIds(request).map((id) => {
    const outcome = statusOf(id);
    const { status, type, reason } =
      typeof outcome === 'number'
        ? { status: outcome, type: 'es_rejected_execution_exception', reason: 'rejected' }
        : outcome;
    return {
      index:
        status < 300
          ? { _index: 'swb-cdr-v1', _id: id, status, result: 'created' }
          : { _index: 'swb-cdr-v1', _id: id, status, error: { type, reason } },
    };
  });
  return { took: 1, errors: items.some((item) => item.index.status >= 300), items };
}

let sequence = 0;

/** A CDR with the given call id and start (ISO), answered by default. */
export function cdr(callId: string, start = '2026-11-25T10:00:00.000Z', extra: object = {}) {
  sequence++;
  const startMs = Date.parse(start);
  return {
    callId,
    from: `+1555000${String(sequence % 1000).padStart(4, '0')}`,
    to: '+15559990000',
    direction: 'inbound',
    disposition: 'answered',
    start,
    answer: new Date(startMs + 2000).toISOString(),
    end: new Date(startMs + 62_000).toISOString(),
    durationSeconds: 62,
    billableSeconds: 60,
    pbxNode: 'pbx-1',
    edge: 'edge-a',
    ...extra,
  } as const;
}
