import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, symlink, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore, isBlobError, type BlobStore } from '../src/index.js';
import { blobContract } from './blob-contract.js';

blobContract('posix', async () => {
  const root = await mkdtemp(join(tmpdir(), 'swb-blob-'));
  const store = createBlobStore({ driver: 'posix', root });
  return {
    store,
    dispose: async () => {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('posix blob store', () => {
  let base: string;
  let root: string;
  let outside: string;
  let store: BlobStore;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'swb-blob-posix-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(root, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'secret'), 'do not touch');
    await symlink(outside, join(root, 'escape'));
    await symlink(join(outside, 'secret'), join(root, 'secret-link'));
    store = createBlobStore({ driver: 'posix', root });
  });
  afterAll(async () => {
    await store.close();
    await rm(base, { recursive: true, force: true });
  });

  it('refuses keys that pass through a symlink pointing outside the root, and touches nothing there', async () => {
    const kinds: string[] = [];
    for (const attempt of [
      () => store.put('escape/new', 'x'),
      () => store.put('escape/deeper/new', 'x'),
      () => store.get('escape/secret'),
      () => store.head('escape/secret'),
      () => store.exists('escape/secret'),
      () => store.delete('escape/secret'),
      () => store.copy('escape/secret', 'stolen'),
      () => store.move('escape/secret', 'stolen'),
      () => store.list({ prefix: 'escape/' }),
      () => store.get('secret-link'),
    ]) {
      try {
        await attempt();
        kinds.push('ok');
      } catch (err) {
        kinds.push(isBlobError(err) ? err.kind : String(err));
      }
    }
    expect(kinds).toEqual(Array.from({ length: kinds.length }, () => 'InvalidKey'));
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('do not touch');
    expect(await store.exists('stolen')).toBe(false);
  });

  it('does not list symlinks, foreign or temp files', async () => {
    await writeFile(join(root, '.swb-tmp-leftover'), 'partial');
    await store.put('listed', 'x');
    const page = await store.list({ recursive: true });
    expect(page.objects.map((o) => o.key)).toEqual(['listed']);
  });

  it('lists in UTF-8 byte order, as S3 does', async () => {
    for (const key of ['order/b/1', 'order/b-x', 'order/b/c/2', 'order/a'])
      await store.put(key, 'x');
    const page = await store.list({ prefix: 'order/', recursive: true });
    expect(page.objects.map((o) => o.key)).toEqual([
      'order/a',
      'order/b-x',
      'order/b/1',
      'order/b/c/2',
    ]);
  });

  it('keeps metadata inside the object file, so one rename publishes both', async () => {
    await store.put('meta/one', 'body', { metadata: { a: 'b' } });
    expect((await readdir(join(root, 'meta'))).sort()).toEqual(['one']);
  });

  it('removes directories emptied by delete', async () => {
    await store.put('deep/er/still/x', 'x');
    await store.delete('deep/er/still/x');
    expect((await readdir(root)).includes('deep')).toBe(false);
  });

  it('signs presigned URLs only when signing is configured', async () => {
    await expect(store.presign('listed', { method: 'GET' })).rejects.toMatchObject({
      kind: 'Unsupported',
    });
  });

  it('leaves no object and no listable temp file when a writer is killed mid-stream', async () => {
    const crashRoot = join(base, 'crash');
    const writer = join(base, 'writer.mjs');
    // Node 20 cannot run TypeScript: bundle the store's source for the child.
    const bundle = join(base, 'store.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('../src/blob/index.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      conditions: ['@switchboard/source'],
      logLevel: 'silent',
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    const storeUrl = new URL(`file://${bundle}`).href;
    // The child writes an endless stream through the store; the parent kills it once the temp
    // file has grown, i.e. mid-write.
    await writeFile(
      writer,
      `import { Readable } from 'node:stream';
const { createBlobStore } = await import(${JSON.stringify(storeUrl)});
const store = createBlobStore({ driver: 'posix', root: ${JSON.stringify(crashRoot)} });
const chunk = Buffer.alloc(1024 * 1024, 7);
let sent = 0;
const body = new Readable({ read() { sent++; if (sent === 3) process.stdout.write('writing\\n'); this.push(chunk); } });
await store.put('calls/rec.wav', body);
`,
    );
    const child = spawn(process.execPath, [writer], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('writing')) resolve();
      });
      child.on('exit', (code) => {
        reject(new Error(`writer exited ${String(code)}: ${stderr}`));
      });
    });
    // Let it write more, then kill it without warning.
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const crashed = createBlobStore({ driver: 'posix', root: crashRoot });
    const leftovers = await filesUnder(crashRoot);
    expect(leftovers.length).toBe(1);
    expect(leftovers[0]).toMatch(/\.swb-tmp-[0-9a-f]+$/);
    expect(await crashed.exists('calls/rec.wav')).toBe(false);
    expect((await crashed.list({ recursive: true })).objects).toEqual([]);
    expect((await crashed.list({ prefix: 'calls/' })).objects).toEqual([]);
    expect(await crashed.cleanup({ olderThanMs: 0 })).toEqual({ removed: 1 });
    expect(await filesUnder(crashRoot)).toEqual([]);
    await crashed.close();
  });
});
