import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import type { CdrDocument } from '../src/search/index.js';
import { searchExample } from '../examples/search.js';
import { bulkPairs, bulkResponse, cdr, createMockCluster, errorResponse } from './search-mock.js';

it('runs the README example against the mock cluster', async () => {
  const c = createMockCluster();
  c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
  c.on('GET', '/_alias/:name', () => errorResponse(404, 'aliases_not_found_exception', 'missing'));
  c.on('PUT', '/:index', () => ({ acknowledged: true }));
  const stored: CdrDocument[] = [];
  c.on('POST', '/:index/_bulk', (request) => {
    const docs = new Map(bulkPairs(request).map(([, doc]) => [(doc as CdrDocument).callId, doc]));
    return bulkResponse(request, (id) => {
      const doc = docs.get(id) as CdrDocument;
      if ('colour' in doc) {
        return { status: 400, type: 'strict_dynamic_mapping_exception', reason: 'no [colour]' };
      }
      stored.push(doc);
      return 201;
    });
  });
  let pit = 0;
  c.on('POST', '/:index/_pit', () => ({ id: `pit-${++pit}` }));
  c.on('DELETE', '/_pit', () => ({ succeeded: true }));
  c.on('POST', '/_search', (request) => {
    const body = request.body as { size: number; search_after?: [number, number] };
    const answered = stored
      .filter((doc) => doc.disposition === 'answered')
      .map((doc, n) => ({ doc, sort: [Date.parse(String(doc.start)), n] as const }));
    const after = body.search_after;
    const rest = answered.filter((hit) => after === undefined || hit.sort[1] > after[1]);
    return {
      pit_id: `pit-${++pit}`,
      hits: {
        total: { value: answered.length, relation: 'eq' },
        hits: rest.slice(0, body.size).map((hit) => ({
          _index: 'demo-cdr-v1',
          _id: hit.doc.callId,
          _source: hit.doc,
          sort: hit.sort,
        })),
      },
    };
  });
  c.on('POST', '/:index/_search', () => ({
    hits: { total: { value: 4, relation: 'eq' }, hits: [] },
    aggregations: {
      histogram: {
        buckets: [
          { key: 0, key_as_string: '2026-11-25T10:00:00.000Z', doc_count: 3 },
          { key: 1, key_as_string: '2026-11-25T11:00:00.000Z', doc_count: 1 },
        ],
      },
      terms: {
        buckets: [
          { key: 'answered', doc_count: 3 },
          { key: 'busy', doc_count: 1 },
        ],
      },
    },
  }));

  const cdrs = [
    cdr('call-1', '2026-11-25T10:05:00.000Z'),
    cdr('call-2', '2026-11-25T10:15:00.000Z', { disposition: 'busy' }),
    cdr('call-3', '2026-11-25T10:25:00.000Z'),
    cdr('call-4', '2026-11-25T11:05:00.000Z'),
    { ...cdr('call-5'), colour: 'red' } as unknown as CdrDocument,
  ];
  const result = await searchExample(
    { indexPrefix: 'demo' },
    cdrs,
    { from: '2026-11-25T10:00:00Z', to: '2026-11-25T12:00:00Z' },
    { client: c.client },
  );

  expect(result).toEqual({
    answered: ['call-1', 'call-3', 'call-4'],
    rejected: ['call-5: strict_dynamic_mapping_exception'],
    perHour: [3, 1],
    busy: 1,
  });
  const paths = c.requests.map((r) => `${r.method} ${r.path}`);
  expect(paths.filter((p) => p === 'POST /_search')).toHaveLength(2);
  expect(paths).toContain('PUT /demo-cdr-v1');
  expect(c.requests.find((r) => r.path.endsWith('/_bulk'))?.querystring).toEqual({
    require_alias: 'true',
    refresh: 'wait_for',
  });
});

it('is quoted verbatim in the README', async () => {
  const [readme, example] = await Promise.all([
    readFile(new URL('../README.md', import.meta.url), 'utf8'),
    readFile(new URL('../examples/search.ts', import.meta.url), 'utf8'),
  ]);
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
