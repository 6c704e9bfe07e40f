import { SwitchboardError } from '@switchboard/runtime';
/**
 * The sandbox's error codes. Callers branch on `code`, never on the message.
 *
 * | Code | When | Retryable |
 * |---|---|---|
 * | `SWB_SANDBOX_START_FAILED` | a server exited or failed while starting; the message names it, its log and the log's last lines | no |
 * | `SWB_SANDBOX_TIMEOUT` | a server (or a fault's effect) did not become ready within the bound | yes |
 * | `SWB_SANDBOX_PORT_IN_USE` | a port of the sandbox's range answers but no sandbox process owns it | no |
 * | `SWB_SANDBOX_BAD_OPTION` | an option (port base, folder, replica index) is invalid | no |
 * | `SWB_SANDBOX_NOT_A_SANDBOX` | the folder exists, is not empty and was not made by the sandbox (refused by `up` and `reset`) | no |
 * | `SWB_SANDBOX_LOCKED` | another `up`/`down`/`reset` holds the sandbox's lock for too long | yes |
 * | `SWB_SANDBOX_COMMAND_FAILED` | a helper command (`mariadb-install-db`, `redis-cli`, `rabbitmqctl`) failed | no |
 */
export const SandboxErrorCode = {
  startFailed: 'SWB_SANDBOX_START_FAILED',
  timeout: 'SWB_SANDBOX_TIMEOUT',
  portInUse: 'SWB_SANDBOX_PORT_IN_USE',
  badOption: 'SWB_SANDBOX_BAD_OPTION',
  notASandbox: 'SWB_SANDBOX_NOT_A_SANDBOX',
  locked: 'SWB_SANDBOX_LOCKED',
  commandFailed: 'SWB_SANDBOX_COMMAND_FAILED',
} as const;

export type SandboxErrorCode = (typeof SandboxErrorCode)[keyof typeof SandboxErrorCode];

export interface SandboxErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  /** The server the error is about, e.g. `mariadb-replica-1`. */
  readonly server?: string;
  /** That server's log file. */
  readonly logFile?: string;
}

/** The base of the sandbox's errors: the runtime's `SwitchboardError`, plus the server concerned. */
export class SandboxError extends SwitchboardError {
  override name = 'SandboxError';
  declare readonly code: SandboxErrorCode;
  readonly server: string | undefined;
  readonly logFile: string | undefined;

  constructor(code: SandboxErrorCode, message: string, options: SandboxErrorOptions = {}) {
    super(code, message, {
      ...('cause' in options ? { cause: options.cause } : {}),
      retryable: options.retryable ?? false,
    });
    this.server = options.server;
    this.logFile = options.logFile;
  }
}

/** A server exited or failed while starting. */
export class SandboxStartError extends SandboxError {
  override name = 'SandboxStartError';
  constructor(message: string, options: SandboxErrorOptions = {}) {
    super(SandboxErrorCode.startFailed, message, options);
  }
}

/** Something did not happen within its bound. */
export class SandboxTimeoutError extends SandboxError {
  override name = 'SandboxTimeoutError';
  constructor(message: string, options: SandboxErrorOptions = {}) {
    super(SandboxErrorCode.timeout, message, { retryable: true, ...options });
  }
}
