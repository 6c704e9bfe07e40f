import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WorkerThreadError } from './errors.js';

/**
 * Runs `fn(input)`, the default export of the ES module `file`, in a worker thread, and resolves
 * with what it returns (structured-cloned). CPU-heavy steps go here so the event loop stays free
 * to renew BullMQ's job locks: a loop blocked past `lockDuration` loses the lock, and the job is
 * taken again by another worker while this one still runs it.
 *
 * `file` must be JavaScript Node can load as is (as a BullMQ sandboxed processor must be). The
 * thread is terminated when `signal` aborts, and the promise rejects with the signal's reason.
 */
export function runInThread<O>(
  file: URL | string,
  input: unknown,
  options: { readonly signal?: AbortSignal } = {},
): Promise<O> {
  const bootstrap = `
    import { parentPort, workerData } from 'node:worker_threads';
    const mod = await import(workerData.file);
    const result = await mod.default(workerData.input);
    parentPort.postMessage(result);
  `;
  const href = typeof file === 'string' ? new URL(file, 'file:///').href : file.href;
  return runThread<O>(
    new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
      workerData: { file: href, input },
    }),
    options.signal,
  );
}

function runThread<O>(thread: Worker, signal: AbortSignal | undefined): Promise<O> {
  return new Promise<O>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      settle(() => {
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      });
      void thread.terminate();
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    thread.once('message', (result: O) => {
      settle(() => {
        resolve(result);
      });
      void thread.terminate();
    });
    thread.once('error', (error) => {
      settle(() => {
        reject(new WorkerThreadError(`worker thread failed: ${error.message}`, { cause: error }));
      });
    });
    thread.once('exit', (code) => {
      settle(() => {
        reject(new WorkerThreadError(`worker thread exited with ${code} before answering`));
      });
    });
  });
}

// CommonJS, evaluated as is: it must not depend on how this package was built or loaded.
const sha256ThreadSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
const hash = createHash('sha256');
let size = 0;
createReadStream(workerData.path, { highWaterMark: 1 << 20 })
  .on('data', (chunk) => { size += chunk.length; hash.update(chunk); })
  .on('error', (error) => { throw error; })
  .on('end', () => parentPort.postMessage({ sha256: hash.digest('hex'), size }));
`;

export interface FileDigest {
  readonly sha256: string;
  readonly size: number;
}

async function sha256InProcess(path: string, signal: AbortSignal | undefined): Promise<FileDigest> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = createReadStream(path, {
    highWaterMark: 1 << 16,
    ...(signal === undefined ? {} : { signal }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * The SHA-256 and size of a file. Files of `threadAboveBytes` or more are hashed in a worker
 * thread: hashing runs at ~1.5 GB/s, so a 1 GiB recording would otherwise hold the event loop in
 * many short slices for most of a second, delaying lock renewal and every other job.
 */
export async function sha256File(
  path: string,
  options: {
    readonly threadAboveBytes: number;
    readonly size: number;
    readonly signal?: AbortSignal;
  },
): Promise<FileDigest> {
  if (options.size < options.threadAboveBytes) return sha256InProcess(path, options.signal);
  return runThread<FileDigest>(
    new Worker(sha256ThreadSource, { eval: true, workerData: { path } }),
    options.signal,
  );
}
