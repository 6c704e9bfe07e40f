import { SwitchboardError } from '@switchboard/runtime';

/**
 * The SIP edge's stable error codes. SIP requests never see these: a handler answers with a SIP
 * status instead (the status *is* the error there). They reach callers of the libraries: the
 * CLI and the controller's admin route (the account store), and whoever builds the registrar.
 *
 * | Code                          | Retryable | Meaning                                                                                                  |
 * | ----------------------------- | --------- | -------------------------------------------------------------------------------------------------------- |
 * | `SWB_SIP_INVALID_ACCOUNT`     | no        | An account's username, domain or password is not acceptable; `field` names which. HTTP 400.             |
 * | `SWB_SIP_ACCOUNT_NOT_FOUND`   | no        | No account with that username and domain (e.g. `setEnabled` on a missing one). HTTP 404.               |
 * | `SWB_SIP_INVALID_ARGUMENT`    | no        | A factory option is invalid (`createRegistrar`, `createFloodControl`, …); `field` names it.             |
 * | `SWB_SIP_BINDING_CONFLICT`    | yes       | A registration lost the kv compare-and-set race too many times (edges writing one AOR at once).        |
 */
export const SipEdgeErrorCode = {
  InvalidAccount: 'SWB_SIP_INVALID_ACCOUNT',
  AccountNotFound: 'SWB_SIP_ACCOUNT_NOT_FOUND',
  InvalidArgument: 'SWB_SIP_INVALID_ARGUMENT',
  BindingConflict: 'SWB_SIP_BINDING_CONFLICT',
} as const;
export type SipEdgeErrorCode = (typeof SipEdgeErrorCode)[keyof typeof SipEdgeErrorCode];

type Options = {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  readonly statusCode?: number;
};

/** The base of every SIP edge error. */
export class SipEdgeError extends SwitchboardError {
  override name = 'SipEdgeError';

  constructor(code: SipEdgeErrorCode, message: string, options: Options = {}) {
    super(code, message, options);
  }
}

/** An account field is not acceptable; nothing was written. */
export class SipInvalidAccountError extends SipEdgeError {
  override name = 'SipInvalidAccountError';
  readonly field: 'username' | 'domain' | 'password' | 'enabled';

  constructor(field: SipInvalidAccountError['field'], message: string) {
    super(SipEdgeErrorCode.InvalidAccount, `${field}: ${message}`, { statusCode: 400 });
    this.field = field;
  }
}

/** No such account. */
export class SipAccountNotFoundError extends SipEdgeError {
  override name = 'SipAccountNotFoundError';

  constructor(username: string, domain: string) {
    super(SipEdgeErrorCode.AccountNotFound, `no SIP account ${username}@${domain}`, {
      statusCode: 404,
    });
  }
}

/** A factory option is invalid; found at construction. */
export class SipInvalidArgumentError extends SipEdgeError {
  override name = 'SipInvalidArgumentError';
  readonly field: string;

  constructor(field: string, message: string) {
    super(SipEdgeErrorCode.InvalidArgument, `${field}: ${message}`, { statusCode: 400 });
    this.field = field;
  }
}

/** A registration kept losing the compare-and-set race on its AOR; trying again may succeed. */
export class SipBindingConflictError extends SipEdgeError {
  override name = 'SipBindingConflictError';
  readonly aor: string;

  constructor(aor: string, attempts: number) {
    super(
      SipEdgeErrorCode.BindingConflict,
      `${aor}: lost the compare-and-set race ${attempts} times`,
      { retryable: true, statusCode: 409 },
    );
    this.aor = aor;
  }
}

/** Validates a positive integer option at construction. */
export function positiveIntegerOption(field: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new SipInvalidArgumentError(field, `must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}
