import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DependencyUnavailableError } from './errors.js';
import { formatHostPort, redactCredentials, uriHostPort, type HostPort } from './uri.js';

/**
 * One dependency `/readyz` asks about. `check` resolves when the dependency answers and rejects
 * with the reason otherwise; it should stop work when `signal` aborts (the runner stops waiting
 * anyway).
 */
export interface ReadinessCheck {
  /** Stable name, also the `dependency` label of the metrics, e.g. `sql.primary`. */
  readonly name: string;
  /** What is checked, e.g. `127.0.0.1:3306`; shown in `/readyz`, so never with credentials. */
  readonly target?: string;
  /**
   * Default true. A non-critical dependency (a SQL replica: reads move to another) shows in
   * `/readyz` and the metrics but does not make the daemon unready.
   */
  readonly critical?: boolean;
  check(signal: AbortSignal): Promise<void>;
}

export interface CheckOptions {
  readonly critical?: boolean;
}

/** The outcome of one check, as `/readyz` lists it. */
export interface CheckResult {
  readonly name: string;
  readonly target?: string;
  readonly critical: boolean;
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Why it failed, with any URI credentials masked. */
  readonly error?: string;
}

function describe(error: unknown): string {
  return redactCredentials(error instanceof Error ? error.message : String(error));
}

/**
 * Runs every check concurrently, each bounded by `timeoutMs`: a check that has not settled by then
 * fails with "no answer within … ms" and its signal aborts. Never rejects.
 */
export async function runChecks(
  checks: readonly ReadinessCheck[],
  options: { readonly timeoutMs: number },
): Promise<readonly CheckResult[]> {
  return Promise.all(
    checks.map(async (readiness): Promise<CheckResult> => {
      const began = performance.now();
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          const reason = new DependencyUnavailableError(
            readiness.name,
            `no answer within ${options.timeoutMs} ms`,
          );
          // Settle first, so the timeout (not the check's reaction to the abort) is the reason.
          reject(reason);
          controller.abort(reason);
        }, options.timeoutMs);
      });
      const base = {
        name: readiness.name,
        ...(readiness.target === undefined ? {} : { target: readiness.target }),
        critical: readiness.critical ?? true,
      };
      try {
        await Promise.race([readiness.check(controller.signal), timedOut]);
        return { ...base, ok: true, latencyMs: elapsed(began) };
      } catch (error) {
        return { ...base, ok: false, latencyMs: elapsed(began), error: describe(error) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('check aborted');
}

function elapsed(began: number): number {
  return Math.round((performance.now() - began) * 10) / 10;
}

/**
 * Ready when a TCP connection to `address` opens. A stand-in until each client library offers a
 * protocol-level ping: it proves the port answers, not that the server behind it is healthy.
 */
export function tcpCheck(
  name: string,
  address: HostPort,
  options: CheckOptions = {},
): ReadinessCheck {
  const target = formatHostPort(address);
  return {
    name,
    target,
    ...(options.critical === undefined ? {} : { critical: options.critical }),
    check: (signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(abortReason(signal));
          return;
        }
        const socket = connect({ host: address.host, port: address.port });
        const onAbort = (): void => {
          socket.destroy();
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
          resolve();
        });
        socket.once('error', (cause) => {
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
          reject(
            new DependencyUnavailableError(name, `cannot connect to ${target}: ${cause.message}`, {
              cause,
            }),
          );
        });
      }),
  };
}

/** `tcpCheck` on the host and port of a URI (`mysql://`, `redis://`, `amqp://`, `http://`...). */
export function uriCheck(name: string, uri: string, options: CheckOptions = {}): ReadinessCheck {
  return tcpCheck(name, uriHostPort(uri), options);
}

/** Ready when `path` is a directory this process can read and write (a POSIX blob root). */
export function directoryCheck(
  name: string,
  path: string,
  options: CheckOptions = {},
): ReadinessCheck {
  return {
    name,
    target: path,
    ...(options.critical === undefined ? {} : { critical: options.critical }),
    async check() {
      try {
        const info = await stat(path);
        if (!info.isDirectory()) throw new Error(`${path} is not a directory`);
        await access(path, constants.R_OK | constants.W_OK);
      } catch (cause) {
        throw new DependencyUnavailableError(name, describe(cause), { cause });
      }
    },
  };
}

/**
 * Ready when at least one of `checks` is: for a set of interchangeable nodes (Redis Cluster seeds,
 * RabbitMQ cluster URLs), where a client can use whichever answers.
 */
export function anyOfCheck(
  name: string,
  checks: readonly ReadinessCheck[],
  options: CheckOptions = {},
): ReadinessCheck {
  const targets = checks.flatMap((c) => (c.target === undefined ? [] : [c.target]));
  return {
    name,
    ...(targets.length === 0 ? {} : { target: targets.join(',') }),
    ...(options.critical === undefined ? {} : { critical: options.critical }),
    async check(signal) {
      if (checks.length === 0) {
        throw new DependencyUnavailableError(name, 'no nodes configured');
      }
      try {
        await Promise.any(checks.map((c) => c.check(signal)));
      } catch (error) {
        const reasons =
          error instanceof AggregateError ? error.errors.map(describe) : [describe(error)];
        throw new DependencyUnavailableError(
          name,
          `none of ${checks.length} answered: ${reasons.join('; ')}`,
          { cause: error },
        );
      }
    },
  };
}
