import {
  createSearch,
  type CdrDocument,
  type DeadLetter,
  type SearchConfig,
  type SearchDeps,
} from '@switchboard/storage';

/**
 * Index call detail records, page through the answered ones, and count calls per hour and per
 * disposition. `config` is the daemons' `search` configuration (`SWB_SEARCH_NODE`,
 * `SWB_SEARCH_INDEX_PREFIX`, …); `deps.client` lets a test bring its own client.
 */
export async function searchExample(
  config: SearchConfig,
  cdrs: Iterable<CdrDocument>,
  range: { readonly from: string; readonly to: string },
  deps: SearchDeps = {},
): Promise<{ answered: string[]; rejected: string[]; perHour: number[]; busy: number }> {
  const search = createSearch(config, deps);
  try {
    await search.ensureIndex('cdr'); // templates, then `<prefix>-cdr-v1` behind alias `<prefix>-cdr`

    const rejected: DeadLetter<CdrDocument>[] = [];
    const indexer = search.indexer('cdr', {
      onDeadLetter: (letter) => void rejected.push(letter), // in a worker: park it for a human
      refresh: 'wait_for', // searchable once flush() resolves; leave it off for bulk loads
    });
    for (const cdr of cdrs) await indexer.add(cdr); // waits while too many bytes are in flight
    await indexer.flush(); // every CDR is now indexed (id = call id) or dead-lettered

    const answered: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await search.query('cdr', {
        ...range,
        filters: { disposition: 'answered' },
        order: 'asc',
        size: 2,
        cursor, // opaque; the same query with it gives the next page
      });
      answered.push(...page.hits.map((hit) => hit.document.callId));
      cursor = page.cursor;
    } while (cursor !== undefined);

    const stats = await search.callStats(range);
    return {
      answered,
      rejected: rejected.map((letter) => `${letter.id}: ${letter.type ?? letter.reason}`),
      perHour: stats.calls.map((bucket) => bucket.count),
      busy: stats.byDisposition.busy,
    };
  } finally {
    await search.close(); // flushes the indexer; closes the client if it built it
  }
}
