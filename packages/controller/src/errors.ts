import { SwitchboardError } from '@switchboard/runtime';

/**
 * The controller's stable error codes. Each is also the `code` of the API's JSON error body.
 *
 * | Code | HTTP | Meaning | Retryable |
 * |---|---|---|---|
 * | `SWB_CTL_UNAUTHORIZED` | 401 | no bearer token, or one that is neither the admin nor the join token | no |
 * | `SWB_CTL_FORBIDDEN` | 403 | the join token on an operator's route | no |
 * | `SWB_CTL_INVALID_REQUEST` | 400 | the body, a parameter or the query does not match the route's schema; the message names the field | no |
 * | `SWB_CTL_NOT_FOUND` | 404 | no node or plan with that id, or no such route | no |
 * | `SWB_CTL_CONFLICT` | 409 | the plan cannot change state that way (applied twice, or nothing to apply) | no |
 * | `SWB_CTL_RATE_LIMITED` | 429 | too many requests from one client address | yes |
 * | `SWB_CTL_FENCED` | 409 | a write carried a fencing token older than the store's: this controller is no longer the leader | no |
 * | `SWB_CTL_UNAVAILABLE` | 503 | the kv store (or a server the action needs) did not answer | yes |
 */
export const ControllerErrorCode = {
  Unauthorized: 'SWB_CTL_UNAUTHORIZED',
  Forbidden: 'SWB_CTL_FORBIDDEN',
  InvalidRequest: 'SWB_CTL_INVALID_REQUEST',
  NotFound: 'SWB_CTL_NOT_FOUND',
  Conflict: 'SWB_CTL_CONFLICT',
  RateLimited: 'SWB_CTL_RATE_LIMITED',
  Fenced: 'SWB_CTL_FENCED',
  Unavailable: 'SWB_CTL_UNAVAILABLE',
} as const;
export type ControllerErrorCode = (typeof ControllerErrorCode)[keyof typeof ControllerErrorCode];

const statusOf: Record<ControllerErrorCode, number> = {
  SWB_CTL_UNAUTHORIZED: 401,
  SWB_CTL_FORBIDDEN: 403,
  SWB_CTL_INVALID_REQUEST: 400,
  SWB_CTL_NOT_FOUND: 404,
  SWB_CTL_CONFLICT: 409,
  SWB_CTL_RATE_LIMITED: 429,
  SWB_CTL_FENCED: 409,
  SWB_CTL_UNAVAILABLE: 503,
};

const retryableCodes = new Set<ControllerErrorCode>([
  ControllerErrorCode.RateLimited,
  ControllerErrorCode.Unavailable,
]);

export class ControllerError extends SwitchboardError {
  override name = 'ControllerError';
  declare readonly code: ControllerErrorCode;

  constructor(code: ControllerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, {
      ...options,
      statusCode: statusOf[code],
      retryable: retryableCodes.has(code),
    });
  }
}

/** A write carried a fencing token older than the one the store holds. */
export class FencedError extends ControllerError {
  override name = 'FencedError';
  readonly fence: number;
  readonly current: number;

  constructor(what: string, fence: number, current: number) {
    super(
      ControllerErrorCode.Fenced,
      `${what}: fencing token ${fence} is older than the stored ${current}; this controller is no longer the leader`,
    );
    this.fence = fence;
    this.current = current;
  }
}

export function notFound(what: string, id: string): ControllerError {
  return new ControllerError(ControllerErrorCode.NotFound, `no ${what} ${JSON.stringify(id)}`);
}
