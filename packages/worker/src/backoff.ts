import { backoffDelay } from '@switchboard/runtime';

/** The backoff type producers name (from the task catalogue), re-exported for the worker's users. */
export { taskBackoffType } from '@switchboard/queue';

export interface BackoffOptions {
  /** The ceiling of the first retry's delay; doubled for each later one. */
  readonly baseDelayMs: number;
  /** The longest delay. */
  readonly maxDelayMs: number;
}

export const defaultBackoff: BackoffOptions = Object.freeze({
  baseDelayMs: 1000,
  maxDelayMs: 300_000,
});

/**
 * Exponential backoff with "equal jitter": the ceiling is `base · 2^(attempt−1)` capped at `max`,
 * and the delay is drawn from [ceiling/2, ceiling). Half the ceiling is kept so retries after an
 * outage never pile up at 0 ms; the random half spreads the workers that failed together.
 * `attempt` is the number of attempts made so far (1 before the first retry).
 */
export function retryDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  return backoffDelay(attempt, { baseMs: options.baseDelayMs, maxMs: options.maxDelayMs }, random);
}
