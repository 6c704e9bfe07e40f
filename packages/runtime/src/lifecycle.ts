import { CloseTimeoutError, ClosedError } from './errors.js';

/**
 * What every long-lived part of a daemon implements. `close()` drains gracefully (finish the work
 * in hand, accept no more); `destroy()` aborts at once. Both are idempotent: a second call returns
 * the first call's promise.
 */
export interface Component {
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** The three steps a component supplies; `defineComponent` adds the state machine around them. */
export interface ComponentHooks {
  start(): Promise<void>;
  /** Drain; called at most once, and only after a successful start. */
  close(): Promise<void>;
  /** Abort; called at most once, and only if start was attempted. May run while close runs. */
  destroy(): Promise<void>;
}

/**
 * Wraps three hooks in the lifecycle every component shares: `start()` twice returns the same
 * promise; `start()` after `close()` or `destroy()` rejects with `ClosedError`; `close()` waits for
 * a start in progress, then drains; `close()` and `destroy()` cache their promises (as BullMQ
 * does), so a second signal or a double call in a test is harmless.
 */
export function defineComponent(hooks: ComponentHooks): Component {
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let destroying: Promise<void> | undefined;
  let stopped = false;

  const settled = async (promise: Promise<void>): Promise<boolean> => {
    try {
      await promise;
      return true;
    } catch {
      // The caller of start() received this error; close only needs to know start did not finish.
      return false;
    }
  };

  return {
    start() {
      if (stopped) return Promise.reject(new ClosedError('cannot start: already closed'));
      starting ??= hooks.start();
      return starting;
    },
    close() {
      stopped = true;
      closing ??= (async () => {
        if (starting === undefined) return;
        if (await settled(starting)) await hooks.close();
      })();
      return closing;
    },
    destroy() {
      stopped = true;
      destroying ??= (async () => {
        if (starting === undefined) return;
        await hooks.destroy();
      })();
      return destroying;
    },
  };
}

/** Rejects with one error, or an `AggregateError` holding all of them when several failed. */
function throwAll(errors: readonly unknown[], message: string): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, message);
}

/**
 * Runs components as one: starts them in order; if one fails, closes it and the ones already
 * started, in reverse order (the failed one may hold half-acquired resources), and rethrows (an
 * `AggregateError` if that cleanup failed too); closes in reverse
 * order, continuing past failures; destroys all started ones concurrently. A close requested while
 * starting stops the sequence before the next component.
 */
export function composeComponents(components: readonly Component[]): Component {
  const started: Component[] = [];
  let closeRequested = false;

  const closeStarted = async (): Promise<unknown[]> => {
    const errors: unknown[] = [];
    for (const component of [...started].reverse()) {
      try {
        await component.close();
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  };

  const composite = defineComponent({
    async start() {
      for (const component of components) {
        try {
          if (closeRequested) throw new ClosedError('closed while starting');
          started.push(component);
          await component.start();
        } catch (error) {
          // close() only drains a component whose start succeeded, so the rollback is ours.
          const cleanup = await closeStarted();
          if (cleanup.length > 0) {
            throw new AggregateError(
              [error, ...cleanup],
              'start failed, and closing the started components failed too',
            );
          }
          throw error;
        }
      }
    },
    async close() {
      throwAll(await closeStarted(), 'several components failed to close');
    },
    async destroy() {
      const results = await Promise.allSettled(started.map((component) => component.destroy()));
      const errors = results.flatMap((r): unknown[] =>
        r.status === 'rejected' ? [r.reason as unknown] : [],
      );
      throwAll(errors, 'several components failed to destroy');
    },
  });

  return {
    start: () => composite.start(),
    close() {
      closeRequested = true;
      return composite.close();
    },
    destroy() {
      closeRequested = true;
      return composite.destroy();
    },
  };
}

/** Timers, injectable so deadline tests need not wait. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * Closes a component within `timeoutMs`. If the deadline passes first, destroys it and rejects with
 * `CloseTimeoutError`; if close itself fails, destroys it (a half-closed component still holds
 * resources) and rejects with close's error.
 */
export async function closeWithDeadline(
  component: Component,
  timeoutMs: number,
  timers: Timers = realTimers,
): Promise<void> {
  let handle: unknown;
  const deadline = new Promise<'timeout'>((resolve) => {
    handle = timers.setTimeout(() => {
      resolve('timeout');
    }, timeoutMs);
  });
  const closing = component.close().then(
    () => 'closed' as const,
    (error: unknown) => ({ error }),
  );
  try {
    const outcome = await Promise.race([closing, deadline]);
    if (outcome === 'closed') return;
    let destroyError: unknown;
    try {
      await component.destroy();
    } catch (error) {
      destroyError = error;
    }
    if (outcome === 'timeout') {
      throw new CloseTimeoutError(
        timeoutMs,
        destroyError === undefined ? {} : { cause: destroyError },
      );
    }
    throw outcome.error;
  } finally {
    timers.clearTimeout(handle);
  }
}
