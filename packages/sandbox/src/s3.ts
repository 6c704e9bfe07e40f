import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { StartContext } from './context.js';
import { LOOPBACK, S3_BUCKET, type SandboxLayout } from './layout.js';
import { checkFreePort } from './ports.js';
import { elapsed, ownedPid, spawnLogged, waitFor, type Spawned } from './process.js';

/** bin/ sits next to src/ and dist/, so this resolves from either. */
const SERVER_SCRIPT = fileURLToPath(new URL('../bin/s3-server.mjs', import.meta.url));

/** GET / (ListBuckets): a real S3 protocol answer, or an error. */
export function s3Probe(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      { host: LOOPBACK, port, path: '/', method: 'GET', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200 && body.includes('ListAllMyBucketsResult')) {
            const buckets = [...body.matchAll(/<Name>([^<]+)<\/Name>/g)].length;
            resolvePromise(`s3rver, ${buckets} bucket${buckets === 1 ? '' : 's'}`);
          } else {
            reject(new Error(`s3: GET / answered ${res.statusCode ?? '?'}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`s3: no answer in ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function upS3(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  const s3 = layout.s3;
  const startedAt = performance.now();
  const pid = await ownedPid(s3);
  let spawned: Spawned | undefined;
  if (pid === undefined) {
    await checkFreePort(s3);
    await mkdir(s3.dataDir, { recursive: true });
    spawned = await spawnLogged(
      process.execPath,
      [SERVER_SCRIPT, String(s3.port), s3.dataDir, S3_BUCKET],
      { logFile: s3.logFile },
    );
    if (spawned.child.pid !== undefined) await writeFile(s3.pidFile, `${spawned.child.pid}\n`);
    ctx.started.add('s3');
  }
  await waitFor(`s3 (127.0.0.1:${s3.port})`, () => s3Probe(s3.port, 1000), {
    timeoutMs: ctx.timeoutMs,
    server: 's3',
    logFile: s3.logFile,
    ...(spawned === undefined ? {} : { failFast: spawned.exitReason }),
  });
  ctx.progress(
    spawned === undefined
      ? `s3: already running (pid ${pid ?? '?'})`
      : `s3: ready in ${elapsed(startedAt)}`,
  );
}
