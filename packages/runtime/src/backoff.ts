/** Exponential backoff: the delay's ceiling doubles with each attempt, up to `maxMs`. */
export interface BackoffOptions {
  /** The ceiling before the first retry (attempt 1). */
  readonly baseMs: number;
  /** The largest ceiling. */
  readonly maxMs: number;
  /**
   * `equal` (default): the delay is drawn from [ceiling/2, ceiling), so retries never bunch at
   * 0 ms after an outage; `full`: from [0, ceiling), spreading colliding clients the widest.
   */
  readonly jitter?: 'equal' | 'full';
}

/**
 * The delay (whole ms) before retry `attempt` (1-based): ceiling = min(maxMs, baseMs·2^(attempt−1)),
 * then jittered. The one backoff of every retry loop in the project (reconnects, job retries,
 * bulk items, transaction and compare-and-set conflicts), so they all spread the same way.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt) - 1), 52);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  if (options.jitter === 'full') return Math.floor(random() * ceiling);
  const half = ceiling / 2;
  return Math.floor(half + random() * half);
}
