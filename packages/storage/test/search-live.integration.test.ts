// The contract suite against a real Elasticsearch (8.x or 9.x): runs only when ELASTICSEARCH_URL
// is set (e.g. http://127.0.0.1:9200; ELASTICSEARCH_API_KEY if security is on). Everything it
// creates starts with its own prefix and is deleted afterwards.
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSearch,
  type CdrDocument,
  type DeadLetter,
  type Search,
} from '../src/search/index.js';
import { searchExample } from '../examples/search.js';
import { cdr } from './search-mock.js';

const url = process.env['ELASTICSEARCH_URL'];
const apiKey = process.env['ELASTICSEARCH_API_KEY'];
if (url === undefined || url === '') {
  process.stderr.write('search live suite skipped: ELASTICSEARCH_URL is not set\n');
}

const hour = (h: number, m: number): string =>
  `2026-11-25T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00.000Z`;

// Six calls over two hours: four answered, one busy, one no-answer.
const calls: CdrDocument[] = [
  cdr('live-1', hour(10, 5)),
  cdr('live-2', hour(10, 15), { disposition: 'busy', answer: undefined, billableSeconds: 0 }),
  cdr('live-3', hour(10, 25), { pbxNode: 'pbx-2' }),
  cdr('live-4', hour(10, 35)),
  cdr('live-5', hour(11, 5), { disposition: 'no-answer', answer: undefined, billableSeconds: 0 }),
  cdr('live-6', hour(11, 15), { pbxNode: 'pbx-2' }),
];
const range = { from: hour(10, 0), to: '2026-11-25T12:00:00.000Z' };

describe.skipIf(url === undefined || url === '')('search against a live Elasticsearch', () => {
  const prefix = uniqueName('swbsearch');
  const config = {
    node: url ?? '',
    indexPrefix: prefix,
    ...(apiKey === undefined ? {} : { auth: { apiKey } }),
    bulk: { flushIntervalMs: 50 },
    retry: { baseDelayMs: 50 },
  };
  let search: Search;

  beforeAll(() => {
    search = createSearch(config);
  });

  afterAll(async () => {
    if (url === undefined || url === '') return;
    const { client } = search;
    // By name: wildcard deletes are refused where action.destructive_requires_name is on (the default).
    const indices = Object.keys(
      await client.indices.get({ index: `${prefix}-*`, allow_no_indices: true }),
    );
    for (const index of indices) await client.indices.delete({ index });
    for (const name of [`${prefix}-cdr`, `${prefix}-doc`, `${prefix}-ex-cdr`, `${prefix}-ex-doc`]) {
      await client.indices.deleteIndexTemplate({ name }, { ignore: [404] });
    }
    await search.close();
  });

  it('puts the templates with the mappings written in code, idempotently', async () => {
    await search.ensureTemplates();
    await search.ensureTemplates();
    const { index_templates: templates } = await search.client.indices.getIndexTemplate({
      name: `${prefix}-cdr`,
    });
    const template = templates[0]?.index_template;
    expect(template?.index_patterns).toEqual([`${prefix}-cdr-v*`]);
    expect(template?.template?.mappings?.dynamic).toBe('strict');
    expect(template?.template?.mappings?.properties?.['callId']).toEqual({ type: 'keyword' });

    expect(await search.ensureIndex('cdr')).toEqual({
      alias: `${prefix}-cdr`,
      index: `${prefix}-cdr-v1`,
      created: true,
    });
    // Another process (a second instance) finds it and creates nothing.
    const other = createSearch(config);
    try {
      expect(await other.ensureIndex('cdr')).toMatchObject({ created: false });
    } finally {
      await other.close();
    }
    const mapping = await search.client.indices.getMapping({ index: `${prefix}-cdr-v1` });
    expect(mapping[`${prefix}-cdr-v1`]?.mappings.properties?.['start']).toMatchObject({
      type: 'date',
    });
  });

  it('bulk-indexes CDRs by call id and dead-letters a mapping error with its reason', async () => {
    const letters: DeadLetter<CdrDocument>[] = [];
    const indexer = search.indexer('cdr', {
      onDeadLetter: (letter) => void letters.push(letter),
      refresh: 'wait_for',
    });
    for (const call of calls) await indexer.add(call);
    await indexer.add(calls[0] as CdrDocument); // again: the same id, still one document
    await indexer.add({ ...cdr('live-bad'), colour: 'red' } as unknown as CdrDocument);
    await indexer.flush();

    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      id: 'live-bad',
      status: 400,
      type: 'strict_dynamic_mapping_exception',
      attempts: 1,
    });
    expect(indexer.stats).toMatchObject({ indexed: 7, deadLettered: 1, bytesInFlight: 0 });
    const { count } = await search.client.count({ index: `${prefix}-cdr` });
    expect(count).toBe(6);
  });

  it('pages through a filtered range with a cursor, in order, without repeats', async () => {
    const ids: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await search.query('cdr', {
        ...range,
        filters: { disposition: ['answered', 'busy'] },
        order: 'asc',
        size: 2,
        cursor,
      });
      pages++;
      expect(page.total).toEqual({ value: 5, relation: 'eq' });
      ids.push(...page.hits.map((hit) => hit.id));
      cursor = page.cursor;
    } while (cursor !== undefined && pages < 10);
    expect(ids).toEqual(['live-1', 'live-2', 'live-3', 'live-4', 'live-6']);

    const pbx2 = await search.query('cdr', { ...range, filters: { pbxNode: 'pbx-2' } });
    expect(pbx2.hits.map((hit) => hit.document.callId)).toEqual(['live-6', 'live-3']);
    expect(pbx2.cursor).toBeUndefined();
  });

  it('counts calls per hour and per disposition', async () => {
    const stats = await search.callStats(range);
    expect(stats).toEqual({
      total: 6,
      calls: [
        { start: '2026-11-25T10:00:00.000Z', count: 4 },
        { start: '2026-11-25T11:00:00.000Z', count: 2 },
      ],
      byDisposition: { answered: 4, busy: 1, 'no-answer': 1, failed: 0, cancelled: 0 },
    });
  });

  it('reindexes into v2 and swaps the alias atomically, leaving v1', async () => {
    const progress: number[] = [];
    const extra = cdr('live-7', hour(11, 45));
    const result = await search.reindex('cdr', [...calls, extra], {
      onDeadLetter: () => undefined,
      onProgress: (p) => progress.push(p.indexed),
    });
    expect(result).toEqual({
      alias: `${prefix}-cdr`,
      index: `${prefix}-cdr-v2`,
      previous: `${prefix}-cdr-v1`,
      previousDeleted: false,
      read: 7,
      indexed: 7,
      failed: 0,
    });
    expect(progress.at(-1)).toBe(7);
    const aliases = await search.client.indices.getAlias({ name: `${prefix}-cdr` });
    expect(Object.keys(aliases)).toEqual([`${prefix}-cdr-v2`]);
    expect(await search.client.indices.exists({ index: `${prefix}-cdr-v1` })).toBe(true);
    const page = await search.query('cdr', { ...range, size: 10 });
    expect(page.hits).toHaveLength(7);
    expect(new Set(page.hits.map((hit) => hit.index))).toEqual(new Set([`${prefix}-cdr-v2`]));
  });

  it('runs the README example', async () => {
    const examplePrefix = `${prefix}-ex`;
    const result = await searchExample({ ...config, indexPrefix: examplePrefix }, calls, range);
    expect(result).toEqual({
      answered: ['live-1', 'live-3', 'live-4', 'live-6'],
      rejected: [],
      perHour: [4, 2],
      busy: 1,
    });
  });
});
