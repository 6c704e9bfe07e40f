import { redactCredentials } from './uri.js';

/** Options every Switchboard error accepts. */
export interface SwitchboardErrorOptions {
  /** The error this one wraps (ES2022 error cause). */
  readonly cause?: unknown;
  /** Whether trying the same operation again may succeed; default false. */
  readonly retryable?: boolean;
  /** The HTTP status an API answers with when this error reaches it. */
  readonly statusCode?: number;
}

/** What `toJSON()` gives: no stack, and causes reduced to their name, code and message. */
export interface SerializedSwitchboardError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly statusCode?: number;
  readonly cause?: SerializedCause;
}

export interface SerializedCause {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/**
 * The base of every error Switchboard throws. `code` is stable and documented (callers branch on
 * it, never on the message); `retryable` says whether the same call may succeed later, so retry
 * loops need no list of codes; `cause` keeps the driver's original error.
 */
export class SwitchboardError extends Error {
  override name = 'SwitchboardError';
  readonly code: string;
  readonly retryable: boolean;
  readonly statusCode: number | undefined;

  constructor(code: string, message: string, options: SwitchboardErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.statusCode = options.statusCode;
  }

  /**
   * A JSON form safe to send to a client or a log: no stack, and a cause's message has its
   * URI credentials masked, since driver errors often quote the connection string.
   */
  toJSON(): SerializedSwitchboardError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.statusCode === undefined ? {} : { statusCode: this.statusCode }),
      ...(this.cause === undefined ? {} : { cause: serializeCause(this.cause) }),
    };
  }
}

function serializeCause(cause: unknown): SerializedCause {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return {
      name: cause.name,
      message: redactCredentials(cause.message),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: typeof cause, message: redactCredentials(String(cause)) };
}

/** Where a configuration value came from; a message names the source so the fix is obvious. */
export type ConfigSource = 'env' | 'file' | 'argv' | 'default' | 'missing';

/** One bad configuration field. */
export interface ConfigIssue {
  /** Dotted path in the schema, e.g. `ops.port`; empty for the config file itself. */
  readonly path: string;
  /** The environment variable that sets this field, e.g. `SWB_OPS_PORT`. */
  readonly env: string;
  readonly source: ConfigSource;
  /** What was wrong, e.g. `expected integer ≤ 65535` or `is required`. */
  readonly message: string;
  /** The value as received, quoted; absent for secret fields and missing values. */
  readonly received?: string;
  /** The config file, when the value came from one. */
  readonly file?: string;
}

/** Renders one issue as the line an operator reads, naming the variable to fix. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where =
    issue.source === 'file'
      ? `${issue.path} in ${issue.file ?? 'the config file'} (env ${issue.env})`
      : issue.source === 'argv'
        ? issue.path.startsWith('-')
          ? issue.path
          : `--${issue.path}`
        : issue.env !== ''
          ? issue.env
          : issue.path;
  const got = issue.received === undefined ? '' : `, got ${issue.received}`;
  return issue.message.startsWith('is ')
    ? `${where} ${issue.message}${got}`
    : `${where}: ${issue.message}${got}`;
}

/** Something worth an operator's attention that does not stop the daemon, e.g. a typo'd variable. */
export interface ConfigWarning {
  /** The variable, file key or argument concerned. */
  readonly key: string;
  readonly message: string;
}

/**
 * Configuration failed to load; `issues` names every bad field, not only the first. `warnings`
 * carries what the load noticed on the way (a mistyped variable is often the cause of a missing
 * one).
 */
export class ConfigError extends SwitchboardError {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigWarning[];

  constructor(
    issues: readonly ConfigIssue[],
    options: { readonly cause?: unknown; readonly warnings?: readonly ConfigWarning[] } = {},
  ) {
    const lines = issues.map((issue) => `  - ${formatConfigIssue(issue)}`);
    const { warnings = [], ...rest } = options;
    super('SWB_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`, rest);
    this.issues = Object.freeze([...issues]);
    this.warnings = Object.freeze([...warnings]);
  }

  override toJSON(): SerializedSwitchboardError & { readonly issues: readonly ConfigIssue[] } {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** A component did not finish closing within its deadline and was destroyed. */
export class CloseTimeoutError extends SwitchboardError {
  override name = 'CloseTimeoutError';
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options: { readonly cause?: unknown } = {}) {
    super('SWB_CLOSE_TIMEOUT', `close did not finish within ${timeoutMs} ms; destroyed`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** A component was asked to start after it had been closed or destroyed. */
export class ClosedError extends SwitchboardError {
  override name = 'ClosedError';

  constructor(message = 'component is closed') {
    super('SWB_CLOSED', message, { statusCode: 503 });
  }
}

/** A server the daemon depends on did not answer; trying again later may succeed. */
export class DependencyUnavailableError extends SwitchboardError {
  override name = 'DependencyUnavailableError';
  readonly dependency: string;

  constructor(dependency: string, message: string, options: { readonly cause?: unknown } = {}) {
    super('SWB_DEPENDENCY_UNAVAILABLE', message, { ...options, retryable: true, statusCode: 503 });
    this.dependency = dependency;
  }
}

/** Socket errors that say "not now" rather than "never": the peer may come back. */
export const transientNetworkCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * Whether retrying may help: a `SwitchboardError` says so itself; for foreign errors, only the
 * Node socket errors that describe a transient condition count. Anything else is not retryable,
 * so an unknown failure is never retried in a loop.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SwitchboardError) return err.retryable;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && transientNetworkCodes.has(code);
  }
  return false;
}
