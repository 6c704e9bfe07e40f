import { errors as esmErrors } from '@elastic/elasticsearch';
import { SwitchboardError } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  SearchError,
  SearchErrorCode,
  createSearch,
  isSearchError,
  toSearchError,
} from '../src/search/index.js';
import { createMockCluster, errorResponse, mockErrors } from './search-mock.js';

function responseError(Errors: typeof esmErrors, status: number, type: string) {
  return new Errors.ResponseError({
    body: { error: { type, reason: 'why' }, status },
    statusCode: status,
    headers: {},
    warnings: null,
    meta: {} as never,
  });
}

describe('search errors', () => {
  it('turns a connection failure into a retryable SWB_SEARCH_UNAVAILABLE', async () => {
    const c = createMockCluster({ maxRetries: 1 });
    let attempts = 0;
    c.on('GET', '/_alias/:name', () => {
      attempts++;
      return new mockErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200');
    });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const failure = await search.currentIndex('cdr').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SearchError);
    expect(failure).toBeInstanceOf(SwitchboardError);
    expect(failure).toMatchObject({
      code: 'SWB_SEARCH_UNAVAILABLE',
      kind: 'Unavailable',
      retryable: true,
      statusCode: 503,
      cause: expect.objectContaining({ name: 'ConnectionError' }) as unknown,
    });
    expect((failure as Error).message).toContain('ECONNREFUSED');
    expect(attempts).toBe(2); // the client's own retry first
  });

  it('maps response statuses to stable codes, whichever build of the client threw', () => {
    for (const Errors of [esmErrors, mockErrors]) {
      const cases = [
        [429, 'es_rejected_execution_exception', 'SWB_SEARCH_THROTTLED', true],
        [503, 'unavailable_shards_exception', 'SWB_SEARCH_UNAVAILABLE', true],
        [404, 'index_not_found_exception', 'SWB_SEARCH_NOT_FOUND', false],
        [409, 'version_conflict_engine_exception', 'SWB_SEARCH_CONFLICT', false],
        [400, 'parsing_exception', 'SWB_SEARCH_INVALID_REQUEST', false],
        [403, 'security_exception', 'SWB_SEARCH_UNAUTHORIZED', false],
      ] as const;
      for (const [status, type, code, retryable] of cases) {
        const error = toSearchError(responseError(Errors, status, type), 'search swb-cdr');
        expect(error).toMatchObject({ code, retryable, status, type });
        expect(error.message).toBe(`search swb-cdr failed: HTTP ${status} ${type}: why`);
      }
    }
  });

  it('treats timeouts as retryable and anything unknown as a backend error', () => {
    expect(toSearchError(new esmErrors.TimeoutError('Request timed out'), 'x')).toMatchObject({
      code: 'SWB_SEARCH_UNAVAILABLE',
      retryable: true,
    });
    expect(toSearchError(new TypeError('boom'), 'x')).toMatchObject({
      code: 'SWB_SEARCH_BACKEND',
      retryable: false,
      statusCode: 502,
    });
    expect(toSearchError('weird', 'x').code).toBe('SWB_SEARCH_BACKEND');
  });

  it('passes a search error through unchanged', () => {
    const original = new SearchError('Closed', 'closed');
    expect(toSearchError(original, 'x')).toBe(original);
    expect(isSearchError(original, 'Closed')).toBe(true);
    expect(isSearchError(original, 'NotFound')).toBe(false);
  });

  it('has a unique SWB_SEARCH_ code for every kind', () => {
    const codes = Object.values(SearchErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^SWB_SEARCH_[A-Z_]+$/);
  });

  it('reports a missing index as SWB_SEARCH_NOT_FOUND from a search', async () => {
    const c = createMockCluster();
    c.on('POST', '/:index/_search', () =>
      errorResponse(404, 'index_not_found_exception', 'no such index [swb-doc]'),
    );
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(search.query('doc', { size: 0 })).rejects.toMatchObject({
      code: 'SWB_SEARCH_NOT_FOUND',
      message: 'search swb-doc failed: HTTP 404 index_not_found_exception: no such index [swb-doc]',
    });
  });
});
