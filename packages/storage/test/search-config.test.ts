import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { ConfigError, Secret } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { createSearch, resolveSearchConfig, searchDefaults } from '../src/search/index.js';

function issuesOf(run: () => unknown): Array<{ path: string; message: string; received?: string }> {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('search config', () => {
  it('fills every default', () => {
    const config = resolveSearchConfig({ node: 'http://es:9200' });
    expect(config).toEqual({
      nodes: ['http://es:9200'],
      auth: undefined,
      indexPrefix: 'switchboard',
      numberOfShards: undefined,
      numberOfReplicas: undefined,
      bulk: searchDefaults.bulk,
      retry: searchDefaults.retry,
      requestTimeoutMs: 30_000,
      pointInTimeKeepAliveSeconds: 60,
      compression: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names every bad field in one error', () => {
    const issues = issuesOf(() =>
      resolveSearchConfig({
        node: ['http://ok:9200', 'ftp://nope'],
        indexPrefix: 'Bad Prefix',
        bulk: { concurrency: 0, flushBytes: 10, maxBytesInFlight: 5 },
        retry: { maxAttempts: 0 },
        requestTimeoutMs: -1,
      }),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'search.indexPrefix',
      'search.bulk.maxBytesInFlight',
      'search.bulk.concurrency',
      'search.retry.maxAttempts',
      'search.node[1]',
      'search.requestTimeoutMs',
    ]);
    expect(issues[0]).toMatchObject({ received: '"Bad Prefix"' });
  });

  it('needs a node unless a client is injected', () => {
    expect(issuesOf(() => resolveSearchConfig({}))).toEqual([
      expect.objectContaining({ path: 'search.node', message: 'is required (or inject a client)' }),
    ]);
    expect(resolveSearchConfig({}, { nodeRequired: false }).nodes).toEqual([]);
  });

  it('holds credentials as secrets and never quotes them', () => {
    const config = resolveSearchConfig({
      node: 'https://es:9200',
      auth: { username: 'indexer', password: 'hunter2' },
    });
    expect(config.auth).toMatchObject({ username: 'indexer' });
    expect(JSON.stringify(config)).not.toContain('hunter2');
    expect(inspect(config, { depth: 5 })).not.toContain('hunter2');

    const withKey = resolveSearchConfig({
      node: 'https://es:9200',
      auth: { apiKey: new Secret('k3y') },
    });
    expect(JSON.stringify(withKey)).not.toContain('k3y');

    const issues = issuesOf(() =>
      resolveSearchConfig({
        node: 'https://elastic:s3cret@es:9200',
        auth: { username: 'u', password: '' },
      }),
    );
    expect(issues.map((issue) => issue.path)).toEqual(['search.node', 'search.auth.password']);
    expect(JSON.stringify(issues)).not.toContain('s3cret');
  });

  it('sends the API key it was given, and leaves it out of errors', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers);
      response.writeHead(401, {
        'content-type': 'application/json',
        'x-elastic-product': 'Elasticsearch',
      });
      response.end(
        JSON.stringify({
          error: { type: 'security_exception', reason: 'unable to authenticate' },
          status: 401,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const search = createSearch({
      node: `http://127.0.0.1:${port}`,
      auth: { apiKey: 'c2VjcmV0LWtleQ==' },
      retry: { requestRetries: 0 },
    });
    try {
      const failure = await search.currentIndex('cdr').catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: 'SWB_SEARCH_UNAUTHORIZED', retryable: false });
      expect(seen[0]?.authorization).toBe('ApiKey c2VjcmV0LWtleQ==');
      expect(inspect(failure, { depth: 10 })).not.toContain('c2VjcmV0LWtleQ==');
      expect(JSON.stringify(failure)).not.toContain('c2VjcmV0LWtleQ==');
    } finally {
      await search.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
