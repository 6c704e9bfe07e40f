import { describe, expect, it, vi } from 'vitest';
import {
  backoffDelay,
  createSearch,
  type DeadLetter,
  type SearchConfig,
  type CdrDocument,
} from '../src/search/index.js';
import {
  bulkIds,
  bulkPairs,
  bulkResponse,
  cdr,
  createMockCluster,
  errorResponse,
  mockErrors,
  type MockCluster,
  type MockRequest,
} from './search-mock.js';

/** A cluster where `swb-cdr` is already an alias of `swb-cdr-v1`; `bulk` answers the bulk calls. */
function cluster(bulk: (request: MockRequest, attempt: number) => object): MockCluster {
  const c = createMockCluster();
  c.on('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
  c.on('GET', '/_alias/:name', () => ({ 'swb-cdr-v1': { aliases: { 'swb-cdr': {} } } }));
  let attempt = 0;
  c.on('POST', '/:index/_bulk', (request) => bulk(request, ++attempt));
  return c;
}

function setup(c: MockCluster, config: SearchConfig = {}) {
  const search = createSearch(
    {
      indexPrefix: 'swb',
      ...config,
      retry: { baseDelayMs: 1, maxDelayMs: 5, ...config.retry },
    },
    { client: c.client, random: () => 0.5 },
  );
  const letters: DeadLetter<CdrDocument>[] = [];
  const indexer = search.indexer('cdr', { onDeadLetter: (letter) => void letters.push(letter) });
  return { search, indexer, letters };
}

const bulkRequests = (c: MockCluster): MockRequest[] =>
  c.requests.filter((request) => request.path.endsWith('/_bulk'));

function ndjsonBytes(doc: CdrDocument): number {
  return (
    Buffer.byteLength(JSON.stringify({ index: { _id: doc.callId } })) +
    Buffer.byteLength(JSON.stringify(doc)) +
    2
  );
}

describe('search indexer', () => {
  it('sends index actions keyed by call id to the alias, requiring it to be an alias', async () => {
    const c = cluster((request) => bulkResponse(request));
    const { search, indexer } = setup(c);
    const first = cdr('call-1');
    await indexer.add(first);
    await indexer.add(cdr('call-2'));
    await indexer.add(first); // the same call again: the same id, so one document
    await indexer.flush();

    const [request, ...more] = bulkRequests(c);
    expect(more).toEqual([]);
    expect(request?.path).toBe('/swb-cdr/_bulk');
    expect(request?.querystring).toEqual({ require_alias: 'true' });
    expect(bulkPairs(request as MockRequest)).toEqual([
      [{ index: { _id: 'call-1' } }, first],
      [{ index: { _id: 'call-2' } }, expect.objectContaining({ callId: 'call-2' })],
      [{ index: { _id: 'call-1' } }, first],
    ]);
    expect(indexer.stats).toMatchObject({
      added: 3,
      indexed: 3,
      deadLettered: 0,
      bytesInFlight: 0,
    });
    await search.close();
  });

  it('puts the templates and checks the alias once, before the first bulk request', async () => {
    const c = cluster((request) => bulkResponse(request));
    const { search, indexer } = setup(c, { bulk: { flushDocs: 1 } });
    await indexer.add(cdr('a'));
    await indexer.add(cdr('b'));
    await indexer.flush();
    expect(c.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PUT /_index_template/swb-cdr',
      'PUT /_index_template/swb-doc',
      'GET /_alias/swb-cdr',
      'POST /swb-cdr/_bulk',
      'POST /swb-cdr/_bulk',
    ]);
    await search.close();
  });

  it('retries only the items answered 429, and indexes them on a later attempt', async () => {
    const c = cluster((request, attempt) =>
      bulkResponse(request, (id) => (attempt === 1 && id === 'b' ? 429 : 201)),
    );
    const { search, indexer, letters } = setup(c);
    for (const id of ['a', 'b', 'c']) await indexer.add(cdr(id));
    await indexer.flush();

    expect(bulkRequests(c).map(bulkIds)).toEqual([['a', 'b', 'c'], ['b']]);
    expect(letters).toEqual([]);
    expect(indexer.stats).toMatchObject({ indexed: 3, retried: 1, deadLettered: 0 });
    await search.close();
  });

  it('dead-letters a document refused by the mapping at once, with the reason', async () => {
    const reason =
      'mapping set to strict, dynamic introduction of [colour] within [_doc] is not allowed';
    const c = cluster((request) =>
      bulkResponse(request, (id) =>
        id === 'bad' ? { status: 400, type: 'strict_dynamic_mapping_exception', reason } : 201,
      ),
    );
    const { search, indexer, letters } = setup(c);
    const bad = cdr('bad', undefined, { colour: 'red' });
    await indexer.add(cdr('good'));
    await indexer.add(bad);
    await indexer.flush();

    expect(bulkRequests(c)).toHaveLength(1);
    expect(letters).toEqual([
      {
        id: 'bad',
        index: 'swb-cdr',
        document: bad,
        reason: `strict_dynamic_mapping_exception: ${reason}`,
        status: 400,
        type: 'strict_dynamic_mapping_exception',
        attempts: 1,
      },
    ]);
    expect(indexer.stats).toMatchObject({ indexed: 1, deadLettered: 1, bytesInFlight: 0 });
    await search.close();
  });

  it('dead-letters a document still answered 5xx after maxAttempts', async () => {
    const c = cluster((request) =>
      bulkResponse(request, (id) =>
        id === 'x'
          ? {
              status: 503,
              type: 'unavailable_shards_exception',
              reason: 'primary shard is not active',
            }
          : 201,
      ),
    );
    const { search, indexer, letters } = setup(c, { retry: { maxAttempts: 3 } });
    await indexer.add(cdr('x'));
    await indexer.add(cdr('y'));
    await indexer.flush();

    expect(bulkRequests(c).map(bulkIds)).toEqual([['x', 'y'], ['x'], ['x']]);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      id: 'x',
      status: 503,
      type: 'unavailable_shards_exception',
      attempts: 3,
      reason: 'gave up after 3 attempts: unavailable_shards_exception: primary shard is not active',
    });
    expect(indexer.stats).toMatchObject({ indexed: 1, retried: 2, deadLettered: 1 });
    await search.close();
  });

  it('retries a bulk request refused as a whole with 429, then succeeds', async () => {
    const c = cluster((request, attempt) =>
      attempt === 1
        ? errorResponse(429, 'es_rejected_execution_exception', 'queue full')
        : bulkResponse(request),
    );
    const { search, indexer, letters } = setup(c);
    await indexer.add(cdr('a'));
    await indexer.flush();
    expect(bulkRequests(c)).toHaveLength(2);
    expect(letters).toEqual([]);
    expect(indexer.stats.indexed).toBe(1);
    await search.close();
  });

  it('retries through connection errors, and dead-letters once attempts run out', async () => {
    const c = cluster(() => new mockErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'));
    const { search, indexer, letters } = setup(c, { retry: { maxAttempts: 2 } });
    await indexer.add(cdr('a'));
    await indexer.flush();
    expect(bulkRequests(c)).toHaveLength(2);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.reason).toMatch(/^gave up after 2 attempts: .*ECONNREFUSED/);
    expect(letters[0]?.status).toBeUndefined();
    await search.close();
  });

  it('dead-letters every item of a request refused for good (401) without retrying', async () => {
    const c = cluster(() => errorResponse(401, 'security_exception', 'missing authentication'));
    const { search, indexer, letters } = setup(c);
    await indexer.add(cdr('a'));
    await indexer.add(cdr('b'));
    await indexer.flush();
    expect(bulkRequests(c)).toHaveLength(1);
    expect(letters.map((l) => [l.id, l.status, l.type, l.attempts])).toEqual([
      ['a', 401, 'security_exception', 1],
      ['b', 401, 'security_exception', 1],
    ]);
    expect(letters[0]?.reason).toContain('missing authentication');
    await search.close();
  });

  it('makes add() wait while the bytes in flight would pass the bound', async () => {
    const c = cluster((request) => bulkResponse(request));
    const docs = [cdr('p-1'), cdr('p-2'), cdr('p-3')];
    const size = ndjsonBytes(docs[0] as CdrDocument);
    const { search, indexer } = setup(c, {
      bulk: { flushBytes: 1, maxBytesInFlight: Math.ceil(size * 1.5), concurrency: 4 },
    });
    const hold = c.hold(/_bulk$/);

    await indexer.add(docs[0] as CdrDocument); // fits: sent at once, and held
    let secondAdded = false;
    const second = indexer.add(docs[1] as CdrDocument).then(() => {
      secondAdded = true;
    });
    await vi.waitFor(() => {
      expect(hold.held()).toBe(1);
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(secondAdded).toBe(false);
    expect(indexer.stats).toMatchObject({ bytesInFlight: size, requestsInFlight: 1 });

    hold.release();
    await second;
    expect(secondAdded).toBe(true);
    await indexer.add(docs[2] as CdrDocument);
    await indexer.flush();
    expect(bulkRequests(c).map(bulkIds)).toEqual([['p-1'], ['p-2'], ['p-3']]);
    expect(indexer.stats).toMatchObject({ indexed: 3, bytesInFlight: 0 });
    await search.close();
  });

  it('sends a batch once it holds flushDocs documents, without a flush()', async () => {
    const c = cluster((request) => bulkResponse(request));
    const { search, indexer } = setup(c, { bulk: { flushDocs: 2, flushIntervalMs: 60_000 } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await indexer.add(cdr(id));
    await vi.waitFor(() => {
      expect(bulkRequests(c)).toHaveLength(2);
    });
    expect(indexer.stats.indexed).toBe(4);
    await indexer.flush();
    expect(bulkRequests(c).map(bulkIds)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    await search.close();
  });

  it('sends what is buffered after flushIntervalMs, without a flush()', async () => {
    const c = cluster((request) => bulkResponse(request));
    const { search, indexer } = setup(c, { bulk: { flushIntervalMs: 20 } });
    await indexer.add(cdr('lonely'));
    expect(bulkRequests(c)).toHaveLength(0);
    await vi.waitFor(() => {
      expect(indexer.stats.indexed).toBe(1);
    });
    expect(bulkRequests(c).map(bulkIds)).toEqual([['lonely']]);
    await search.close();
  });

  it('refuses a document without a call id, and any add() after close()', async () => {
    const c = cluster((request) => bulkResponse(request));
    const { search, indexer } = setup(c);
    await expect(indexer.add({ ...cdr('x'), callId: '' })).rejects.toMatchObject({
      code: 'SWB_SEARCH_INVALID_ARGUMENT',
    });
    await indexer.close();
    await expect(indexer.add(cdr('y'))).rejects.toMatchObject({
      code: 'SWB_SEARCH_CLOSED',
      retryable: false,
    });
    await search.close();
  });

  it('counts a letter its sink failed to take, and makes flush() say so', async () => {
    const c = cluster((request) =>
      bulkResponse(request, () => ({
        status: 400,
        type: 'mapper_parsing_exception',
        reason: 'bad',
      })),
    );
    const search = createSearch({ indexPrefix: 'swb' }, { client: c.client });
    const indexer = search.indexer('cdr', {
      onDeadLetter: () => {
        throw new Error('disk full');
      },
    });
    await indexer.add(cdr('a'));
    const failure = await indexer.flush().catch((err: unknown) => err);
    expect(failure).toMatchObject({
      code: 'SWB_SEARCH_DEAD_LETTER_FAILED',
      cause: expect.objectContaining({ message: 'disk full' }) as unknown,
    });
    expect(indexer.stats.deadLettered).toBe(1);
    await expect(indexer.flush()).resolves.toBeUndefined(); // reported once
    await search.close();
  });

  it('is flushed by search.close(), which leaves an injected client open', async () => {
    const c = cluster((request) => bulkResponse(request));
    c.on('GET', '/', () => ({ tagline: 'You Know, for Search' }));
    const { search, indexer, letters } = setup(c, { bulk: { flushIntervalMs: 60_000 } });
    await indexer.add(cdr('last'));
    await search.close();
    expect(bulkRequests(c).map(bulkIds)).toEqual([['last']]);
    expect(letters).toEqual([]);
    await expect(c.client.info()).resolves.toMatchObject({ tagline: 'You Know, for Search' });
    await expect(search.ensureIndex('cdr')).rejects.toMatchObject({ code: 'SWB_SEARCH_CLOSED' });
  });

  it('closes a client it built itself, once', async () => {
    const search = createSearch({ node: 'http://127.0.0.1:9' });
    const close = vi.spyOn(search.client, 'close');
    await Promise.all([search.close(), search.close()]);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base delay, capped at the maximum, scaled by the jitter', () => {
    const retry = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, retry, () => 0.5))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect(backoffDelay(3, retry, () => 0)).toBe(0);
  });
});
