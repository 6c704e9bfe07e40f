// The contract every blob backend passes: one suite, run by each backend's integration test.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlobError, type BlobStore } from '../src/index.js';

export interface ContractTarget {
  readonly store: BlobStore;
  /** Runs after the suite: removes the bucket or directory. */
  readonly dispose: () => Promise<void>;
}

export const hostileKeys: readonly unknown[] = [
  '../x',
  'a/../../x',
  '/etc/passwd',
  'a\0b',
  'a\nb',
  'a\u001fb',
  'a\u007fb',
  '.',
  '..',
  './x',
  'a/./b',
  'a/..',
  '',
  'a//b',
  'a/',
  'a\\..\\x',
  'x'.repeat(1025),
  `${'y'.repeat(256)}/z`,
  '.swb-tmp-1234',
  'a/.swb-x',
  '\ud800x',
  42,
  null,
  undefined,
  { key: 'x' },
];

async function expectKind(promise: Promise<unknown>, kind: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (isBlobError(err) && err.kind === kind) return;
    throw new Error(`expected a ${kind} blob error, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a ${kind} blob error, but the call succeeded`);
}

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stream that yields `good` bytes, then fails. */
function failingStream(good: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(good);
      } else {
        this.destroy(new Error('disk unplugged half-way'));
      }
    },
  });
}

export function blobContract(name: string, factory: () => Promise<ContractTarget>): void {
  describe(`blob store contract: ${name}`, () => {
    let target: ContractTarget;
    let store: BlobStore;
    let n = 0;
    const prefix = (): string => `t${++n}-${randomBytes(3).toString('hex')}/`;

    beforeAll(async () => {
      target = await factory();
      store = target.store;
    });
    afterAll(async () => {
      await target.dispose();
    });

    it('stores a Buffer and reads the same bytes, size, type, metadata and checksum back', async () => {
      const key = `${prefix()}vm/1.wav`;
      const data = randomBytes(10_000);
      const put = await store.put(key, data, {
        contentType: 'audio/wav',
        metadata: { caller: '+15551234', 'call-id': 'abc' },
      });
      expect(put).toEqual({ key, size: data.length, sha256: sha(data) });
      expect((await store.getBytes(key)).equals(data)).toBe(true);
      const info = await store.head(key);
      expect(info).toMatchObject({
        key,
        size: data.length,
        contentType: 'audio/wav',
        metadata: { caller: '+15551234', 'call-id': 'abc' },
        sha256: sha(data),
      });
      expect(info.modified.getTime()).toBeGreaterThan(Date.now() - 60_000);
    });

    it('stores a string as UTF-8 and an empty body as an empty object', async () => {
      const p = prefix();
      await store.put(`${p}s.txt`, 'héllo');
      expect((await store.getBytes(`${p}s.txt`)).toString('utf8')).toBe('héllo');
      await store.put(`${p}empty`, Buffer.alloc(0));
      expect((await store.getBytes(`${p}empty`)).length).toBe(0);
      expect((await store.head(`${p}empty`)).size).toBe(0);
    });

    it('stores a stream of unknown length byte for byte', async () => {
      const key = `${prefix()}stream.bin`;
      const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(1000 + i * 37));
      const result = await store.put(key, Readable.from(chunks));
      const all = Buffer.concat(chunks);
      expect(result.size).toBe(all.length);
      expect(result.sha256).toBe(sha(all));
      expect((await store.getBytes(key)).equals(all)).toBe(true);
    });

    it('overwrites an existing key', async () => {
      const key = `${prefix()}k`;
      await store.put(key, 'one');
      await store.put(key, 'two!');
      expect((await store.getBytes(key)).toString()).toBe('two!');
      expect((await store.head(key)).size).toBe(4);
    });

    it('serves byte ranges, the end included and clamped to the object', async () => {
      const key = `${prefix()}r`;
      const data = Buffer.from('0123456789');
      await store.put(key, data);
      const part = await store.get(key, { range: { start: 2, end: 5 } });
      expect((await buffer(part.body)).toString()).toBe('2345');
      expect(part.range).toEqual({ start: 2, end: 5 });
      expect(part.info.size).toBe(10);
      const tail = await store.get(key, { range: { start: 7 } });
      expect((await buffer(tail.body)).toString()).toBe('789');
      const clamped = await store.get(key, { range: { start: 8, end: 100 } });
      expect((await buffer(clamped.body)).toString()).toBe('89');
      await expectKind(store.get(key, { range: { start: 10 } }), 'InvalidArgument');
    });

    it('answers NotFound for a missing key on get and head, false on exists', async () => {
      const key = `${prefix()}missing`;
      await expectKind(store.get(key), 'NotFound');
      await expectKind(store.head(key), 'NotFound');
      expect(await store.exists(key)).toBe(false);
      await store.put(key, 'x');
      expect(await store.exists(key)).toBe(true);
    });

    it('deletes idempotently, one key or many', async () => {
      const p = prefix();
      await store.put(`${p}a`, '1');
      await store.delete(`${p}a`);
      await store.delete(`${p}a`);
      expect(await store.exists(`${p}a`)).toBe(false);
      const keys = ['b', 'c/d', 'c/e', 'f'].map((k) => `${p}${k}`);
      for (const key of keys) await store.put(key, key);
      await store.deleteMany([...keys, `${p}never-there`]);
      expect((await store.list({ prefix: p, recursive: true })).objects).toEqual([]);
    });

    it('lists one level with prefixes, or everything, in key order and in pages', async () => {
      const p = prefix();
      // No key sorts between "b" and "b/" (as "b-x" would): s3rver walks its directories in a
      // different order from S3's byte order; the POSIX test checks that order itself.
      const keys = ['a', 'b/1', 'b/2', 'b/c/3', 'bx', 'c'].map((k) => `${p}${k}`);
      for (const key of [...keys].reverse()) await store.put(key, key);

      const level = await store.list({ prefix: p });
      expect(level.objects.map((o) => o.key)).toEqual([`${p}a`, `${p}bx`, `${p}c`]);
      expect(level.prefixes).toEqual([`${p}b/`]);
      expect(level.cursor).toBeUndefined();

      const sub = await store.list({ prefix: `${p}b/` });
      expect(sub.objects.map((o) => o.key)).toEqual([`${p}b/1`, `${p}b/2`]);
      expect(sub.prefixes).toEqual([`${p}b/c/`]);

      const partial = await store.list({ prefix: `${p}b`, recursive: true });
      expect(partial.objects.map((o) => o.key)).toEqual([
        `${p}b/1`,
        `${p}b/2`,
        `${p}b/c/3`,
        `${p}bx`,
      ]);
      expect(partial.objects.find((o) => o.key === `${p}b/1`)?.size).toBe(`${p}b/1`.length);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({
          prefix: p,
          recursive: true,
          limit: 2,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.objects.map((o) => o.key));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      expect(seen).toEqual([...keys].sort());
      expect(pages).toBeGreaterThanOrEqual(3);

      const all: string[] = [];
      for await (const object of store.listAll(p)) all.push(object.key);
      expect(all).toEqual([...keys].sort());
    });

    it('copies and moves objects with their metadata', async () => {
      const p = prefix();
      await store.put(`${p}src`, 'payload', {
        contentType: 'text/plain',
        metadata: { owner: 'alice' },
      });
      await store.copy(`${p}src`, `${p}copy/of/src`);
      expect((await store.getBytes(`${p}copy/of/src`)).toString()).toBe('payload');
      expect(await store.head(`${p}copy/of/src`)).toMatchObject({
        contentType: 'text/plain',
        metadata: { owner: 'alice' },
        sha256: sha('payload'),
      });
      await store.move(`${p}src`, `${p}moved`);
      expect(await store.exists(`${p}src`)).toBe(false);
      expect((await store.getBytes(`${p}moved`)).toString()).toBe('payload');
      await expectKind(store.copy(`${p}nothing`, `${p}x`), 'NotFound');
      await expectKind(store.move(`${p}nothing`, `${p}x`), 'NotFound');
      await expectKind(
        store.copy(`${p}moved`, `${p}copy/of/src`, { ifNoneMatch: '*' }),
        'PreconditionFailed',
      );
    });

    it('creates only once with ifNoneMatch "*" and leaves the first object intact', async () => {
      const key = `${prefix()}once`;
      await store.put(key, 'first', { ifNoneMatch: '*' });
      await expectKind(store.put(key, 'second', { ifNoneMatch: '*' }), 'PreconditionFailed');
      await expectKind(
        store.put(key, Readable.from([Buffer.from('third')]), { ifNoneMatch: '*' }),
        'PreconditionFailed',
      );
      expect((await store.getBytes(key)).toString()).toBe('first');
    });

    it('verifies the checksum on read when asked, and refuses a write whose checksum differs', async () => {
      const p = prefix();
      await store.put(`${p}ok`, 'abc', { sha256: sha('abc') });
      expect((await store.getBytes(`${p}ok`, { verify: true })).toString()).toBe('abc');
      await expectKind(store.put(`${p}bad`, 'abc', { sha256: sha('abd') }), 'ChecksumMismatch');
      await expectKind(
        store.put(`${p}bad-stream`, Readable.from([Buffer.from('abc')]), { sha256: sha('abd') }),
        'ChecksumMismatch',
      );
      expect(await store.exists(`${p}bad`)).toBe(false);
      expect(await store.exists(`${p}bad-stream`)).toBe(false);
      await expectKind(
        store.get(`${p}ok`, { verify: true, range: { start: 1 } }),
        'InvalidArgument',
      );
    });

    it('leaves nothing behind when the body stream errors half-way', async () => {
      const p = prefix();
      await expectKind(
        store.put(`${p}broken`, failingStream(randomBytes(64 * 1024))),
        'InvalidArgument',
      );
      expect(await store.exists(`${p}broken`)).toBe(false);
      expect((await store.list({ prefix: p, recursive: true })).objects).toEqual([]);
    });

    it('refuses bodies, metadata and options of the wrong type with InvalidArgument', async () => {
      const key = `${prefix()}typed`;
      await expectKind(store.put(key, 42 as never), 'InvalidArgument');
      await expectKind(store.put(key, null as never), 'InvalidArgument');
      await expectKind(store.put(key, Readable.from([{ not: 'bytes' }])), 'InvalidArgument');
      await expectKind(store.put(key, 'x', { metadata: { Bad: 'x' } }), 'InvalidArgument');
      await expectKind(store.put(key, 'x', { metadata: { ok: 'é' } }), 'InvalidArgument');
      await expectKind(store.put(key, 'x', { contentType: 'nonsense' }), 'InvalidArgument');
      await expectKind(store.put(key, 'x', { ifNoneMatch: 'etag' as never }), 'InvalidArgument');
      await expectKind(store.get(key, { range: { start: -1 } }), 'InvalidArgument');
      await expectKind(store.list({ limit: 0 }), 'InvalidArgument');
      expect(await store.exists(key)).toBe(false);
    });

    it('refuses every hostile key with InvalidKey on every operation', async () => {
      for (const key of hostileKeys) {
        const k = key as string;
        await expectKind(store.put(k, 'x'), 'InvalidKey');
        await expectKind(store.get(k), 'InvalidKey');
        await expectKind(store.head(k), 'InvalidKey');
        await expectKind(store.exists(k), 'InvalidKey');
        await expectKind(store.delete(k), 'InvalidKey');
        await expectKind(store.copy('ok', k), 'InvalidKey');
        await expectKind(store.move(k, 'ok'), 'InvalidKey');
      }
      await expectKind(store.list({ prefix: '../' }), 'InvalidKey');
      await expectKind(store.deleteMany(['fine', '../x']), 'InvalidKey');
    });

    it('reports its capabilities', () => {
      expect(store.capabilities.checksum).toBe('sha256');
      expect(store.capabilities.rangeRead).toBe(true);
      expect(store.capabilities.maxKeyBytes).toBe(1024);
    });
  });
}
