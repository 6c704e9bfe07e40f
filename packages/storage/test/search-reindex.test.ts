import { describe, expect, it } from 'vitest';
import {
  SearchReindexError,
  createSearch,
  type CdrDocument,
  type DeadLetter,
  type ReindexProgress,
} from '../src/search/index.js';
import {
  bulkIds,
  bulkResponse,
  cdr,
  createMockCluster,
  errorResponse,
  type MockRequest,
} from './search-mock.js';

function cluster(options: { current?: string; reject?: (id: string) => boolean } = {}) {
  const c = createMockCluster();
  c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
  c.on('GET', '/_alias/:name', () =>
    options.current === undefined
      ? errorResponse(404, 'aliases_not_found_exception', 'alias [swb-cdr] missing')
      : { [options.current]: { aliases: { 'swb-cdr': {} } } },
  );
  c.on('PUT', '/:index', (request) => ({ acknowledged: true, index: request.path.slice(1) }));
  c.on('POST', '/:index/_bulk', (request) =>
    bulkResponse(request, (id) =>
      options.reject?.(id) === true
        ? {
            status: 400,
            type: 'document_parsing_exception',
            reason: 'failed to parse field [start]',
          }
        : 201,
    ),
  );
  c.on(['GET', 'POST'], '/:index/_refresh', () => ({
    _shards: { total: 1, successful: 1, failed: 0 },
  }));
  c.on('POST', '/_aliases', () => ({ acknowledged: true }));
  c.on('DELETE', '/:index', () => ({ acknowledged: true }));
  return c;
}

async function* source(ids: string[]): AsyncGenerator<CdrDocument> {
  for (const id of ids) {
    await Promise.resolve();
    yield cdr(id);
  }
}

const lines = (requests: MockRequest[]) => requests.map((r) => `${r.method} ${r.path}`);

describe('search reindex', () => {
  it('indexes the source into the next version, then swaps the alias in one request', async () => {
    const c = cluster({ current: 'swb-cdr-v1' });
    const search = createSearch(
      { indexPrefix: 'swb', bulk: { flushDocs: 2 } },
      { client: c.client },
    );
    const progress: ReindexProgress[] = [];
    const result = await search.reindex('cdr', source(['a', 'b', 'c', 'd', 'e']), {
      onDeadLetter: () => undefined,
      onProgress: (p) => progress.push(p),
    });

    expect(result).toEqual({
      alias: 'swb-cdr',
      index: 'swb-cdr-v2',
      previous: 'swb-cdr-v1',
      previousDeleted: false,
      read: 5,
      indexed: 5,
      failed: 0,
    });
    expect(lines(c.requests)).toEqual([
      'PUT /_index_template/swb-cdr',
      'PUT /_index_template/swb-doc',
      'GET /_alias/swb-cdr',
      'PUT /swb-cdr-v2',
      'POST /swb-cdr-v2/_bulk',
      'POST /swb-cdr-v2/_bulk',
      'POST /swb-cdr-v2/_bulk',
      'GET /swb-cdr-v2/_refresh',
      'POST /_aliases',
    ]);
    const bulks = c.requests.filter((r) => r.path.endsWith('/_bulk'));
    expect(bulks.flatMap(bulkIds)).toEqual(['a', 'b', 'c', 'd', 'e']);
    // Straight to the new index: it is not an alias (yet), so no require_alias.
    expect(bulks[0]?.querystring).toEqual({});
    expect(c.requests.at(-1)?.body).toEqual({
      actions: [
        { remove: { index: 'swb-cdr-v1', alias: 'swb-cdr', must_exist: true } },
        { add: { index: 'swb-cdr-v2', alias: 'swb-cdr' } },
      ],
    });
    expect(progress.filter((p) => p.phase === 'indexing')).toHaveLength(3);
    expect(progress.map((p) => p.indexed)).toEqual([2, 4, 5, 5]);
    expect(progress.at(-1)).toEqual({ phase: 'swapped', read: 5, indexed: 5, failed: 0 });

    // Later writes go to the new index without asking the cluster again.
    const indexer = search.indexer('cdr', { onDeadLetter: () => undefined });
    await indexer.add(cdr('f'));
    await search.close();
    expect(lines(c.requests).slice(9)).toEqual(['POST /swb-cdr/_bulk']);
  });

  it('deletes the previous index after the swap when asked to', async () => {
    const c = cluster({ current: 'swb-cdr-v3' });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const result = await search.reindex('cdr', [cdr('a')], {
      onDeadLetter: () => undefined,
      deletePrevious: true,
    });
    expect(result).toMatchObject({
      index: 'swb-cdr-v4',
      previous: 'swb-cdr-v3',
      previousDeleted: true,
    });
    expect(lines(c.requests).slice(-2)).toEqual(['POST /_aliases', 'DELETE /swb-cdr-v3']);
  });

  it('creates the first version and adds the alias when there is none', async () => {
    const c = cluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const result = await search.reindex('cdr', [cdr('a')], { onDeadLetter: () => undefined });
    expect(result).toMatchObject({ index: 'swb-cdr-v1', previous: undefined });
    expect(c.requests.at(-1)?.body).toEqual({
      actions: [{ add: { index: 'swb-cdr-v1', alias: 'swb-cdr' } }],
    });
  });

  it('keeps the alias where it was when more documents fail than allowed', async () => {
    const c = cluster({ current: 'swb-cdr-v1', reject: (id) => id === 'bad' });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const letters: DeadLetter<CdrDocument>[] = [];
    const failure = await search
      .reindex('cdr', source(['a', 'bad', 'c']), { onDeadLetter: (l) => void letters.push(l) })
      .catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(SearchReindexError);
    expect(failure).toMatchObject({
      code: 'SWB_SEARCH_REINDEX_FAILED',
      index: 'swb-cdr-v2',
      read: 3,
      indexed: 2,
      failed: 1,
    });
    expect(letters.map((l) => [l.id, l.index, l.type])).toEqual([
      ['bad', 'swb-cdr-v2', 'document_parsing_exception'],
    ]);
    expect(lines(c.requests)).not.toContain('POST /_aliases');

    const tolerant = await search.reindex('cdr', source(['a', 'bad']), {
      onDeadLetter: () => undefined,
      maxFailures: 1,
      version: 3,
    });
    expect(tolerant).toMatchObject({ index: 'swb-cdr-v3', indexed: 1, failed: 1 });
    expect(lines(c.requests)).toContain('POST /_aliases');
  });

  it('dead-letters a source document without an id and counts it as failed', async () => {
    const c = cluster({ current: 'swb-cdr-v1' });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const letters: DeadLetter<CdrDocument>[] = [];
    const result = await search.reindex('cdr', [cdr('a'), { ...cdr('x'), callId: '' }], {
      onDeadLetter: (l) => void letters.push(l),
      maxFailures: 5,
    });
    expect(result).toMatchObject({ read: 2, indexed: 1, failed: 1 });
    expect(letters).toEqual([
      expect.objectContaining({
        id: '',
        attempts: 0,
        reason: expect.stringContaining('no valid id') as unknown,
      }),
    ]);
  });

  it('stops without swapping when the source fails, naming the new index', async () => {
    const c = cluster({ current: 'swb-cdr-v1' });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    async function* broken(): AsyncGenerator<CdrDocument> {
      yield await Promise.resolve(cdr('a'));
      throw new Error('SQL connection lost');
    }
    const failure = await search
      .reindex('cdr', broken(), { onDeadLetter: () => undefined })
      .catch((err: unknown) => err);
    expect(failure).toMatchObject({
      code: 'SWB_SEARCH_REINDEX_FAILED',
      index: 'swb-cdr-v2',
      read: 1,
      indexed: 1,
      cause: expect.objectContaining({ message: 'SQL connection lost' }) as unknown,
    });
    expect(lines(c.requests)).not.toContain('POST /_aliases');
  });

  it('stops, without swapping, when onProgress throws', async () => {
    const c = cluster({ current: 'swb-cdr-v1' });
    const search = createSearch(
      { indexPrefix: 'swb', bulk: { flushDocs: 1 } },
      { client: c.client },
    );
    const failure = await search
      .reindex('cdr', source(['a', 'b', 'c']), {
        onDeadLetter: () => undefined,
        onProgress: () => {
          throw new Error('progress bar broke');
        },
      })
      .catch((err: unknown) => err);
    expect(failure).toMatchObject({
      code: 'SWB_SEARCH_REINDEX_FAILED',
      message: expect.stringContaining('progress bar broke') as unknown,
    });
    expect(lines(c.requests)).not.toContain('POST /_aliases');
  });

  it('refuses to rebuild into the version the alias already points at', async () => {
    const c = cluster({ current: 'swb-cdr-v2' });
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(
      search.reindex('cdr', [], { onDeadLetter: () => undefined, version: 2 }),
    ).rejects.toMatchObject({ code: 'SWB_SEARCH_INVALID_ARGUMENT' });
    expect(lines(c.requests)).not.toContain('PUT /swb-cdr-v2');
  });
});
