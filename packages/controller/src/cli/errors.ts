import { SwitchboardError } from '@switchboard/runtime';

/**
 * The CLI's stable error codes. Every failure the CLI reports carries one; with `--json` it is
 * the `code` of the error object written to stderr.
 *
 * | Code | Exit | Meaning |
 * |---|---|---|
 * | `SWB_CLI_USAGE` | 2 | unknown command or option, missing argument, unreadable proposal file |
 * | `SWB_CLI_UNREACHABLE` | 1 | no answer from the controller at `--url` |
 * | `SWB_CLI_UNAUTHORIZED` | 1 | 401: no admin token, or not the right one |
 * | `SWB_CLI_FORBIDDEN` | 1 | 403: the token is valid but is not the admin token (the join token) |
 * | `SWB_CLI_NOT_FOUND` | 1 | 404: no node or plan with that id |
 * | `SWB_CLI_INVALID_REQUEST` | 2 | 400: the controller refused the request; the message names the field |
 * | `SWB_CLI_CONFLICT` | 1 | 409: the plan cannot change state that way |
 * | `SWB_CLI_UNAVAILABLE` | 1 | 429 or 503: the controller is busy or cannot reach its store |
 * | `SWB_CLI_SERVER` | 1 | any other answer (a 5xx, or a body that is not the controller's) |
 * | `SWB_CLI_TIMEOUT` | 1 | `drain --wait` ran out of time before the node went idle |
 * | `SWB_CLI_PLAN_FAILED` | 1 | the plan being watched ended `failed` |
 */
export const CliErrorCode = {
  Usage: 'SWB_CLI_USAGE',
  Unreachable: 'SWB_CLI_UNREACHABLE',
  Unauthorized: 'SWB_CLI_UNAUTHORIZED',
  Forbidden: 'SWB_CLI_FORBIDDEN',
  NotFound: 'SWB_CLI_NOT_FOUND',
  InvalidRequest: 'SWB_CLI_INVALID_REQUEST',
  Conflict: 'SWB_CLI_CONFLICT',
  Unavailable: 'SWB_CLI_UNAVAILABLE',
  Server: 'SWB_CLI_SERVER',
  Timeout: 'SWB_CLI_TIMEOUT',
  PlanFailed: 'SWB_CLI_PLAN_FAILED',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** Exit codes: 0 ok, 1 failure, 2 the caller's input is wrong (usage, invalid request, plan errors). */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const exitOf: Record<CliErrorCode, ExitCode> = {
  SWB_CLI_USAGE: ExitCode.Usage,
  SWB_CLI_UNREACHABLE: ExitCode.Failure,
  SWB_CLI_UNAUTHORIZED: ExitCode.Failure,
  SWB_CLI_FORBIDDEN: ExitCode.Failure,
  SWB_CLI_NOT_FOUND: ExitCode.Failure,
  SWB_CLI_INVALID_REQUEST: ExitCode.Usage,
  SWB_CLI_CONFLICT: ExitCode.Failure,
  SWB_CLI_UNAVAILABLE: ExitCode.Failure,
  SWB_CLI_SERVER: ExitCode.Failure,
  SWB_CLI_TIMEOUT: ExitCode.Failure,
  SWB_CLI_PLAN_FAILED: ExitCode.Failure,
};

const retryable = new Set<CliErrorCode>([
  CliErrorCode.Unreachable,
  CliErrorCode.Unavailable,
  CliErrorCode.Timeout,
]);

/** A failure the CLI reports in one line; its message never contains the admin token. */
export class CliError extends SwitchboardError {
  override name = 'CliError';
  declare readonly code: CliErrorCode;
  readonly exitCode: ExitCode;

  constructor(
    code: CliErrorCode,
    message: string,
    options: { cause?: unknown; statusCode?: number } = {},
  ) {
    super(code, message, { ...options, retryable: retryable.has(code) });
    this.exitCode = exitOf[code];
  }
}

export function usageError(message: string): CliError {
  return new CliError(CliErrorCode.Usage, message);
}
