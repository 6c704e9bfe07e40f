import { connect } from 'node:net';
import fc from 'fast-check';
import { uniqueName } from '@switchboard/sandbox/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminToken, joinToken, startController, waitFor, type TestController } from './helpers.js';

const info = inject('sandbox');
let ctl: TestController;
let address: { host: string; port: number };

beforeAll(async () => {
  // A limit high enough that the fuzzer reaches the handlers instead of collecting 429s.
  ctl = await startController(info, uniqueName('fuzz'), {
    SWB_API_RATE_LIMIT_PER_MINUTE: '1000000',
  });
  const url = new URL(ctl.url);
  address = { host: url.hostname, port: Number(url.port) };
  await waitFor('leadership', () => (ctl.daemon.election.isLeader ? true : undefined));
});

afterAll(async () => {
  await ctl.close();
});

interface RawRequest {
  readonly method: string;
  /** Sent byte for byte: it may hold anything, invalid UTF-8 included. */
  readonly path: Buffer;
  readonly headers: readonly (readonly [string, Buffer])[];
  readonly body: Buffer | undefined;
}

interface RawAnswer {
  readonly status: number;
  readonly head: string;
}

/**
 * One request on its own socket, written by hand so that nothing a client library checks (header
 * characters, path characters, lengths) stands between the fuzzer and the server. Resolves with
 * the status line's code once the answer's head has arrived (an event stream never ends).
 */
function sendRaw(request: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    const finish = (): void => {
      // Interim answers (100 Continue) come first; the final one is what counts.
      const text = Buffer.concat(chunks)
        .toString('latin1')
        .replace(/^(?:HTTP\/1\.1 1\d\d[^\r]*\r\n\r\n)+/, '');
      const end = text.indexOf('\r\n\r\n');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (match === null) return;
      const eventStream = /content-type: text\/event-stream/i.test(text.slice(0, end));
      if (socket.readableEnded || (eventStream && end >= 0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ status: Number(match[1]), head: text.slice(0, 2000) });
      }
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      finish();
    });
    socket.on('end', () => {
      finish();
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 \d{3}/.test(Buffer.concat(chunks).toString('latin1'))) {
        reject(new Error('the connection closed without an answer'));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const lines: Buffer[] = [
      Buffer.from(`${request.method} `),
      request.path,
      Buffer.from(' HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n'),
    ];
    for (const [name, value] of request.headers) {
      lines.push(Buffer.from(`${name}: `), value, Buffer.from('\r\n'));
    }
    if (request.body !== undefined)
      lines.push(Buffer.from(`content-length: ${request.body.length}\r\n`));
    lines.push(Buffer.from('\r\n'));
    if (request.body !== undefined) lines.push(request.body);
    // Not end(): node's HTTP server drops the answer of a client that half-closes its socket.
    socket.write(Buffer.concat(lines));
  });
}

// ---- what the fuzzer sends ---------------------------------------------------------------------

/** Every route of api.ts, with `:id` where the path takes one. */
const routes: readonly (readonly [method: string, path: string])[] = [
  ['POST', '/v1/nodes'],
  ['PUT', '/v1/nodes/:id/heartbeat'],
  ['DELETE', '/v1/nodes/:id/lease'],
  ['GET', '/v1/nodes'],
  ['GET', '/v1/nodes/:id'],
  ['POST', '/v1/nodes/:id/drain'],
  ['POST', '/v1/nodes/:id/resume'],
  ['DELETE', '/v1/nodes/:id'],
  ['GET', '/v1/topology'],
  ['GET', '/v1/topology/stream'],
  ['GET', '/v1/status'],
  ['POST', '/v1/plans'],
  ['GET', '/v1/plans'],
  ['GET', '/v1/plans/:id'],
  ['POST', '/v1/plans/:id/apply'],
  ['GET', '/openapi.json'],
  ['GET', '/'],
  ['GET', '/dashboard'],
  ['GET', '/docs/'],
];

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

const ids = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => utf8(encodeURIComponent(s))),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(utf8),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => utf8(encodeURIComponent(s))),
  fc.uint8Array({ minLength: 1, maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
  fc
    .constantFrom(
      '..',
      '../..',
      '%2e%2e',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '..%2f..%2f',
      '%00',
      '%',
      '%zz',
      '%C0%AE%C0%AE',
      '%ff%fe',
      '',
      '//',
      '.',
      'a?b=c',
      'a#b',
      'node-1',
      'node:1.a_b-c',
      'x'.repeat(128),
      'x'.repeat(129),
      'x'.repeat(5000),
      '00000000-0000-0000-0000-000000000000',
    )
    .map(utf8),
  fc.uuid().map(utf8),
);

const queries = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?since=abc',
    '?since=-1',
    '?since=1e99',
    '?since=99999999999999999999999',
    '?waitMs=30001',
    '?waitMs=10&since=999999999',
    '?since=0&since=1',
    '?status=down',
    '?status=zombie',
    '?role=worker&role=kv',
    '?role[]=x',
    '?__proto__[x]=1',
    '?constructor=1',
    '?%',
    '?a=%ff',
  ),
  fc.string({ maxLength: 30 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
);

/** Deeply nested JSON, past anything a schema validator recurses into comfortably. */
const deep = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.boolean())
  .map(([depth, objects]) =>
    objects
      ? `${'{"load":'.repeat(depth)}1${'}'.repeat(depth)}`
      : `${'['.repeat(depth)}${']'.repeat(depth)}`,
  );

const registrationLike = fc.record(
  {
    id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant('fuzz-node')),
    roles: fc.oneof(
      fc.array(fc.constantFrom('worker', 'kv', 'pbx', 'toaster', ''), { maxLength: 10 }),
      fc.string(),
      fc.constant(null),
    ),
    address: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant('127.0.0.1:9')),
    version: fc.oneof(fc.string(), fc.constant(1)),
    ag: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(null)),
    capacity: fc.oneof(
      fc.record({ maxCalls: fc.integer(), memoryMb: fc.double() }, { requiredKeys: [] }),
      fc.string(),
    ),
    load: fc.oneof(
      fc.record(
        {
          activeCalls: fc.oneof(fc.integer(), fc.double(), fc.string()),
          activeJobs: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(null)),
        },
        { requiredKeys: [] },
      ),
      fc.array(fc.integer()),
    ),
  },
  { requiredKeys: [] },
);

const proposalLike = fc.record(
  {
    sql: fc.oneof(fc.record({ replicas: fc.integer({ min: -2, max: 100 }) }), fc.string()),
    kv: fc.record(
      {
        groupSizes: fc.array(fc.integer({ min: -1, max: 70 }), { maxLength: 5 }),
        memoryPerNodeMb: fc.integer({ min: -1, max: 100_000 }),
      },
      { requiredKeys: [] },
    ),
    roles: fc.dictionary(
      fc.constantFrom('controller', 'worker', 'pbx', 'queue', 'sip-edge', 'other'),
      fc.integer({ min: -1, max: 20_000 }),
    ),
    storage: fc.record(
      {
        driver: fc.constantFrom('posix', 's3', 'floppy'),
        totalTb: fc.oneof(fc.double(), fc.integer()),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const bodies = fc.oneof(
  { weight: 3, arbitrary: fc.json().map(utf8) },
  { weight: 3, arbitrary: registrationLike.map((v) => utf8(JSON.stringify(v))) },
  { weight: 2, arbitrary: proposalLike.map((v) => utf8(JSON.stringify(v))) },
  {
    weight: 2,
    arbitrary: fc.tuple(registrationLike, fc.nat()).map(([v, cut]) => {
      const text = JSON.stringify(v);
      return utf8(text.slice(0, cut % Math.max(1, text.length)));
    }),
  },
  { weight: 1, arbitrary: deep.map(utf8) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(1000, 70_000, 1024 * 1024 + 1, 2 * 1024 * 1024)
      .map((n) => utf8(`{"id":"${'x'.repeat(n)}"}`)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    // Invalid UTF-8 inside an otherwise well-formed JSON string.
    arbitrary: fc.constantFrom(
      Buffer.concat([
        utf8('{"load":{"activeCalls":"'),
        Buffer.from([0xff, 0xfe, 0xc0]),
        utf8('"}}'),
      ]),
      Buffer.concat([utf8('{"id":"'), Buffer.from([0xed, 0xa0, 0x80]), utf8('"}')]),
      Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '"x"', '0', '[]', '{}', 'true').map(utf8) },
);

const contentTypes = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'Application/JSON',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    '',
    ';',
    'application/json;;;',
    'application/merge-patch+json',
  ),
  fc.string({ maxLength: 40 }),
);

const authorizations = fc.oneof(
  { weight: 3, arbitrary: fc.constant(`Bearer ${adminToken}`) },
  { weight: 3, arbitrary: fc.constant(`Bearer ${joinToken}`) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Bearer',
      'Bearer ',
      `bearer ${adminToken}`,
      `Bearer  ${joinToken}  `,
      `Bearer ${adminToken} ${joinToken}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `Bearer ${'x'.repeat(8000)}`,
      `Bearer ${'x'.repeat(20_000)}`,
      'Bearer \t',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`) },
);

/** Header values as bytes: printable, then anything but CR and LF (which end a header line). */
const headerValue = (text: string): Buffer => utf8(text.replace(/[\r\n]/g, ' '));

const extraHeaders = fc.array(
  fc.oneof(
    fc.constantFrom<[string, string]>(
      ['x-forwarded-for', '1.2.3.4, ::1, garbage'],
      ['accept', 'application/xml'],
      ['accept', '*/*;q=abc'],
      ['content-encoding', 'gzip'],
      ['expect', '100-continue'],
      ['x-huge', 'y'.repeat(20_000)],
      ['cookie', 'a=b; c'],
      ['if-none-match', '"x"'],
    ),
    fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.string({ maxLength: 100 })),
  ),
  { maxLength: 3 },
);

const requests = fc
  .record({
    route: fc.constantFrom(...routes),
    method: fc.oneof(
      { weight: 8, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      },
    ),
    id: ids,
    query: queries,
    body: fc.option(bodies, { freq: 4 }),
    contentType: contentTypes,
    authorization: authorizations,
    extra: extraHeaders,
  })
  .map(({ route, method, id, query, body, contentType, authorization, extra }): RawRequest => {
    const [routeMethod, pattern] = route;
    const [before, after] = pattern.split(':id');
    const path =
      after === undefined
        ? Buffer.from(pattern)
        : Buffer.concat([Buffer.from(before ?? ''), id, Buffer.from(after)]);
    const headers: [string, Buffer][] = [];
    if (contentType !== undefined) headers.push(['content-type', headerValue(contentType)]);
    if (authorization !== undefined) headers.push(['authorization', headerValue(authorization)]);
    for (const [name, value] of extra) headers.push([name, headerValue(value)]);
    return {
      method: method ?? routeMethod,
      path: Buffer.concat([path, Buffer.from(query)]),
      headers,
      body: body ?? undefined,
    };
  });

const describeRequest = (request: RawRequest): string =>
  JSON.stringify({
    method: request.method,
    path: request.path.toString('latin1').slice(0, 200),
    headers: request.headers.map(([n, v]) => `${n}: ${v.toString('latin1').slice(0, 80)}`),
    body: request.body?.toString('latin1').slice(0, 200),
    bodyBytes: request.body?.length,
  });

// ---- the property ------------------------------------------------------------------------------

describe('the API under malformed input', () => {
  it('answers every request with a 2xx or 4xx, logs no error, and keeps serving', async () => {
    const firstLine = ctl.logs.lines.length;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const answer = await sendRaw(request);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status >= 500 || answer.status < 200) {
          throw new Error(`${answer.status} for ${describeRequest(request)}\n${answer.head}`);
        }
      }),
      { numRuns: 400, interruptAfterTimeLimit: 45_000 },
    );

    process.stdout.write(
      `[controller] fuzz: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}\n`,
    );
    const serious = ctl.logs.lines
      .slice(firstLine)
      .map((line) => JSON.parse(line) as { level: number; msg?: string })
      .filter((line) => line.level >= 50);
    expect(serious).toEqual([]);

    const topology = await ctl.call('/v1/topology', { token: joinToken });
    expect(topology.status).toBe(200);
    // Every family of answer the fuzzer reached, so a run that only ever saw 401s stands out.
    expect([...statuses.keys()].filter((s) => s < 300).length).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
  }, 60_000);
});
