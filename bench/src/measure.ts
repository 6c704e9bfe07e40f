import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface LoopOptions {
  /** How long to keep issuing operations. */
  readonly durationMs: number;
  /** Operations in flight at once. */
  readonly concurrency: number;
}

/**
 * Runs `operation` from `concurrency` loops for `durationMs` and returns completed
 * operations per second. An operation that throws fails the sample: a bench must not
 * report throughput for work that did not happen.
 */
export async function opsPerSecond(
  operation: () => Promise<unknown>,
  options: LoopOptions,
): Promise<number> {
  const started = performance.now();
  const deadline = started + options.durationMs;
  let completed = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await operation();
      completed++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  return (completed * 1000) / (performance.now() - started);
}

/**
 * Repeats `operation` (which moves `bytes` each time) until `minMs` has passed and at
 * least `minIterations` ran; returns MiB/s.
 */
export async function mibPerSecond(
  bytes: number,
  operation: () => Promise<unknown>,
  { minMs, minIterations = 1 }: { readonly minMs: number; readonly minIterations?: number },
): Promise<number> {
  const started = performance.now();
  let iterations = 0;
  while (iterations < minIterations || performance.now() - started < minMs) {
    await operation();
    iterations++;
  }
  const seconds = (performance.now() - started) / 1000;
  return (bytes * iterations) / (1024 * 1024) / seconds;
}

export interface HttpLoadOptions {
  readonly url: string;
  readonly durationMs: number;
  readonly connections?: number;
  readonly pipelining?: number;
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Requests per second from autocannon; any error or non-2xx answer fails the sample. */
export async function httpRequestsPerSecond(options: HttpLoadOptions): Promise<number> {
  const result = await autocannon({
    url: options.url,
    duration: Math.max(1, options.durationMs / 1000),
    connections: options.connections ?? 10,
    pipelining: options.pipelining ?? 1,
    method: options.method ?? 'GET',
    ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(
      `load on ${options.url}: ${result.errors} errors, ${result.non2xx} non-2xx answers of ${result.requests.total}`,
    );
  }
  return result.requests.total / result.duration;
}
