import { backoffDelay as sharedBackoff } from '@switchboard/runtime';

/** The header that counts how many times a handler failed on a message. */
export const attemptsHeader = 'x-attempts';
/** Why a message was dead-lettered by the bus (the handler's error, or why it was invalid). */
export const deadReasonHeader = 'x-swb-dead-reason';
/** `invalid` (bad JSON, unknown event, schema failure) or `failed` (handler attempts exhausted). */
export const deadKindHeader = 'x-swb-dead-kind';
/** The queue the message was dead-lettered from. */
export const deadQueueHeader = 'x-swb-dead-queue';

/** How many attempts a message has had, read from its headers (0 for a fresh message). */
export function attemptsOf(headers: Readonly<Record<string, unknown>> | undefined): number {
  const raw = headers?.[attemptsHeader];
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : 0;
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export type FailureAction =
  | { readonly action: 'retry'; readonly attempts: number }
  | { readonly action: 'dead-letter'; readonly attempts: number };

/**
 * What to do after a handler failed: republish with the attempt count + 1, or dead-letter once
 * `maxAttempts` handler runs have failed.
 */
export function onHandlerFailure(
  headers: Readonly<Record<string, unknown>> | undefined,
  maxAttempts: number,
): FailureAction {
  const attempts = attemptsOf(headers) + 1;
  return attempts >= maxAttempts
    ? { action: 'dead-letter', attempts }
    : { action: 'retry', attempts };
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Reconnect delay for the `attempt`-th retry (1-based): exponential, capped, with "equal
 * jitter" (half fixed, half random), so a fleet that lost its broker does not reconnect in step.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  return sharedBackoff(attempt, { baseMs: options.initialMs, maxMs: options.maxMs }, random);
}

/** Shortens a reason for a header (AMQP short strings are fine long, but logs are not). */
export function truncateReason(reason: string, max = 1024): string {
  return reason.length <= max ? reason : `${reason.slice(0, max - 1)}…`;
}
