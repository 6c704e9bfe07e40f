import { describe, expect, it } from 'vitest';
import { createSearch, type CdrDocument } from '../src/search/index.js';
import { cdr, createMockCluster, errorResponse, type MockRequest } from './search-mock.js';

const calls: CdrDocument[] = [
  cdr('c5', '2026-11-25T10:50:00.000Z'),
  cdr('c4', '2026-11-25T10:40:00.000Z'),
  cdr('c3', '2026-11-25T10:30:00.000Z', { disposition: 'busy' }),
  cdr('c2', '2026-11-25T10:20:00.000Z'),
  cdr('c1', '2026-11-25T10:10:00.000Z'),
];

/** Answers PIT searches from `calls` (sorted on start desc, then shard doc), honouring search_after. */
function pagedCluster() {
  const c = createMockCluster();
  let pit = 0;
  c.on('POST', '/:index/_pit', () => ({ id: `pit-${++pit}`, _shards: {} }));
  c.on('DELETE', '/_pit', () => ({ succeeded: true, num_freed: 1 }));
  c.on('POST', '/_search', (request) => {
    const body = request.body as { size: number; search_after?: [number, number] };
    const sorted = calls.map((doc, n) => ({
      doc,
      sort: [Date.parse(String(doc.start)), n] as [number, number],
    }));
    const after = body.search_after;
    const rest =
      after === undefined
        ? sorted
        : sorted.filter(
            (hit) => hit.sort[0] < after[0] || (hit.sort[0] === after[0] && hit.sort[1] > after[1]),
          );
    return {
      pit_id: `pit-${++pit}`,
      took: 1,
      timed_out: false,
      _shards: {},
      hits: {
        total: { value: calls.length, relation: 'eq' },
        hits: rest.slice(0, body.size).map((hit) => ({
          _index: 'swb-cdr-v1',
          _id: hit.doc.callId,
          _source: hit.doc,
          sort: hit.sort,
        })),
      },
    };
  });
  return c;
}

const searchRequests = (requests: MockRequest[]) => requests.filter((r) => r.path === '/_search');

describe('search query', () => {
  it('pages through every hit with search_after on one point in time, then closes it', async () => {
    const c = pagedCluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const query = {
      from: new Date('2026-11-25T10:00:00Z'),
      to: '2026-11-25T11:00:00Z',
      filters: { pbxNode: ['pbx-1', 'pbx-2'], direction: 'inbound' },
      size: 2,
    } as const;

    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await search.query('cdr', { ...query, cursor });
      pages.push(page.hits.map((hit) => hit.id));
      expect(page.total).toEqual({ value: 5, relation: 'eq' });
      cursor = page.cursor;
    } while (cursor !== undefined);

    expect(pages).toEqual([['c5', 'c4'], ['c3', 'c2'], ['c1']]);
    const [open] = c.requests;
    expect(open).toMatchObject({
      method: 'POST',
      path: '/swb-cdr/_pit',
      querystring: { keep_alive: '60s' },
    });
    const bodies = searchRequests(c.requests).map((r) => r.body as Record<string, unknown>);
    expect(bodies[0]).toEqual({
      pit: { id: 'pit-1', keep_alive: '60s' },
      size: 2,
      track_total_hits: true,
      sort: [{ start: { order: 'desc' } }, { _shard_doc: { order: 'desc' } }],
      query: {
        bool: {
          filter: [
            { range: { start: { gte: '2026-11-25T10:00:00.000Z', lt: '2026-11-25T11:00:00Z' } } },
            { terms: { pbxNode: ['pbx-1', 'pbx-2'] } },
            { term: { direction: 'inbound' } },
          ],
        },
      },
    });
    // Each page reads after the last hit of the one before, on the newest point-in-time id.
    expect(bodies.map((b) => [b['pit'], b['search_after']])).toEqual([
      [{ id: 'pit-1', keep_alive: '60s' }, undefined],
      [{ id: 'pit-2', keep_alive: '60s' }, [Date.parse('2026-11-25T10:40:00Z'), 1]],
      [{ id: 'pit-3', keep_alive: '60s' }, [Date.parse('2026-11-25T10:20:00Z'), 3]],
    ]);
    expect(c.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/_pit',
      body: { id: 'pit-4' },
    });
    await search.close();
  });

  it('returns typed documents with their index', async () => {
    const c = pagedCluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const page = await search.query('cdr', { size: 1 });
    const [hit] = page.hits;
    expect(hit).toEqual({ id: 'c5', index: 'swb-cdr-v1', document: calls[0] });
    expect(hit?.document.durationSeconds).toBe(62);
    expect(page.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    await search.releaseCursor(page.cursor as string);
    expect(c.requests.at(-1)).toMatchObject({ method: 'DELETE', body: { id: 'pit-2' } });
  });

  it('refuses a cursor from another query, and one it did not issue', async () => {
    const c = pagedCluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const first = await search.query('cdr', { size: 2, filters: { edge: 'edge-a' } });
    const sent = c.requests.length;
    await expect(
      search.query('cdr', { size: 2, filters: { edge: 'edge-b' }, cursor: first.cursor }),
    ).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_CURSOR',
      retryable: false,
      statusCode: 400,
    });
    await expect(search.query('cdr', { cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_CURSOR',
    });
    expect(c.requests).toHaveLength(sent);
  });

  it('reports an expired point in time as an invalid cursor', async () => {
    const c = pagedCluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const first = await search.query('cdr', { size: 2 });
    c.mock.clear({ method: 'POST', path: '/_search' });
    c.on('POST', '/_search', () =>
      errorResponse(404, 'search_context_missing_exception', 'No search context found for id [1]'),
    );
    await expect(search.query('cdr', { size: 2, cursor: first.cursor })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_CURSOR',
      type: 'search_context_missing_exception',
    });
  });

  it('validates filters and sizes before sending anything', async () => {
    const c = pagedCluster();
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(
      search.query('cdr', { filters: { durationSeconds: 3 } as never }),
    ).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_ARGUMENT',
      message: 'cannot filter cdr on "durationSeconds"',
    });
    await expect(search.query('cdr', { size: 10_001 })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_ARGUMENT',
    });
    await expect(search.query('cdr', { filters: { to: [] } })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_ARGUMENT',
    });
    await expect(search.query('cdr', { text: 'hello' })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_ARGUMENT',
    });
    expect(c.requests).toEqual([]);
  });

  it('matches text on generic documents', async () => {
    const c = createMockCluster();
    c.on('POST', '/:index/_search', () => ({
      hits: { total: { value: 0, relation: 'eq' }, hits: [] },
    }));
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await search.query('doc', {
      size: 0,
      text: 'voicemail from alice',
      filters: { kind: 'voicemail' },
    });
    expect(c.requests[0]).toMatchObject({
      path: '/swb-doc/_search',
      body: {
        size: 0,
        query: {
          bool: {
            filter: [{ term: { kind: 'voicemail' } }],
            must: [{ multi_match: { query: 'voicemail from alice', fields: ['title', 'body'] } }],
          },
        },
      },
    });
  });

  it('counts calls per hour and per disposition', async () => {
    const c = createMockCluster();
    c.on('POST', '/:index/_search', () => ({
      hits: { total: { value: 7, relation: 'eq' }, hits: [] },
      aggregations: {
        histogram: {
          buckets: [
            {
              key: Date.parse('2026-11-25T10:00:00Z'),
              key_as_string: '2026-11-25T10:00:00.000Z',
              doc_count: 5,
            },
            {
              key: Date.parse('2026-11-25T11:00:00Z'),
              key_as_string: '2026-11-25T11:00:00.000Z',
              doc_count: 0,
            },
            {
              key: Date.parse('2026-11-25T12:00:00Z'),
              key_as_string: '2026-11-25T12:00:00.000Z',
              doc_count: 2,
            },
          ],
        },
        terms: {
          doc_count_error_upper_bound: 0,
          sum_other_doc_count: 0,
          buckets: [
            { key: 'answered', doc_count: 4 },
            { key: 'busy', doc_count: 3 },
          ],
        },
      },
    }));
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const stats = await search.callStats({
      from: '2026-11-25T10:00:00Z',
      to: '2026-11-25T13:00:00Z',
      filters: { tenant: 'acme' },
    });
    expect(stats).toEqual({
      total: 7,
      calls: [
        { start: '2026-11-25T10:00:00.000Z', count: 5 },
        { start: '2026-11-25T11:00:00.000Z', count: 0 },
        { start: '2026-11-25T12:00:00.000Z', count: 2 },
      ],
      byDisposition: { answered: 4, busy: 3, 'no-answer': 0, failed: 0, cancelled: 0 },
    });
    expect(c.requests[0]).toMatchObject({
      path: '/swb-cdr/_search',
      body: {
        size: 0,
        track_total_hits: true,
        aggs: {
          histogram: {
            date_histogram: {
              field: 'start',
              calendar_interval: 'hour',
              min_doc_count: 0,
              extended_bounds: {
                min: Date.parse('2026-11-25T10:00:00Z'),
                max: Date.parse('2026-11-25T13:00:00Z') - 1,
              },
            },
          },
          terms: { terms: { field: 'disposition', size: 20 } },
        },
      },
    });
    expect((c.requests[0]?.body as { sort?: unknown }).sort).toBeUndefined();
  });
});

describe('search setup', () => {
  it('puts strict versioned templates and creates v1 behind the alias, once', async () => {
    const c = createMockCluster();
    c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
    c.on('GET', '/_alias/:name', () =>
      errorResponse(404, 'aliases_not_found_exception', 'alias [swb-cdr] missing'),
    );
    c.on('PUT', '/:index', () => ({ acknowledged: true, index: 'swb-cdr-v1' }));
    const search = createSearch({ indexPrefix: 'swb', numberOfShards: 3 }, { client: c.client });

    await expect(search.ensureIndex('cdr')).resolves.toEqual({
      alias: 'swb-cdr',
      index: 'swb-cdr-v1',
      created: true,
    });
    await expect(search.ensureIndex('cdr')).resolves.toMatchObject({ index: 'swb-cdr-v1' });

    expect(c.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PUT /_index_template/swb-cdr',
      'PUT /_index_template/swb-doc',
      'GET /_alias/swb-cdr',
      'PUT /swb-cdr-v1',
    ]);
    expect(c.requests[0]?.body).toMatchObject({
      index_patterns: ['swb-cdr-v*'],
      priority: 500,
      version: 1,
      _meta: { managed_by: 'switchboard', schema_version: 1 },
      template: {
        settings: { number_of_shards: 3 },
        mappings: {
          dynamic: 'strict',
          properties: {
            callId: { type: 'keyword' },
            disposition: { type: 'keyword' },
            start: { type: 'date' },
            durationSeconds: { type: 'long' },
          },
        },
      },
    });
    expect(c.requests[3]?.body).toEqual({ aliases: { 'swb-cdr': {} } });
  });

  it('uses the index already behind the alias', async () => {
    const c = createMockCluster();
    c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
    c.on('GET', '/_alias/:name', () => ({ 'swb-cdr-v7': { aliases: { 'swb-cdr': {} } } }));
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(search.ensureIndex('cdr')).resolves.toEqual({
      alias: 'swb-cdr',
      index: 'swb-cdr-v7',
      created: false,
    });
    expect(c.requests.some((r) => r.method === 'PUT' && r.path === '/swb-cdr-v7')).toBe(false);
  });

  it('accepts an index another process created first', async () => {
    const c = createMockCluster();
    c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
    let lookups = 0;
    c.on('GET', '/_alias/:name', () =>
      ++lookups === 1
        ? errorResponse(404, 'aliases_not_found_exception', 'missing')
        : { 'swb-cdr-v1': { aliases: { 'swb-cdr': {} } } },
    );
    c.on('PUT', '/:index', () =>
      errorResponse(400, 'resource_already_exists_exception', 'index [swb-cdr-v1] already exists'),
    );
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(search.ensureIndex('cdr')).resolves.toEqual({
      alias: 'swb-cdr',
      index: 'swb-cdr-v1',
      created: false,
    });
  });

  it('tries again after a failed setup instead of remembering the failure', async () => {
    const c = createMockCluster();
    let templates = 0;
    c.on('PUT', '/_index_template/:name', () =>
      ++templates === 1
        ? errorResponse(503, 'master_not_discovered_exception', 'no master')
        : { acknowledged: true },
    );
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    await expect(search.ensureTemplates()).rejects.toMatchObject({
      code: 'SWB_SEARCH_UNAVAILABLE',
      retryable: true,
    });
    await expect(search.ensureTemplates()).resolves.toBeUndefined();
    expect(templates).toBe(3);
  });
});
