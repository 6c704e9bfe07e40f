import { CliError, CliErrorCode } from './errors.js';

/** The part of WHATWG `fetch` the CLI uses; tests pass a fake. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** Where the admin token came from, so a 401 can say which one to fix. */
export type TokenSource = 'flag' | 'env' | 'none';

export interface ClientOptions {
  readonly fetch: Fetch;
  /** The controller's base URL, already validated (http or https). */
  readonly url: string;
  readonly token: string | undefined;
  readonly tokenSource: TokenSource;
}

/** Names the resource a request is about, so a 404 says which id does not exist. */
export interface RequestContext {
  readonly resource?: string;
}

/** The controller's error body (every error of the API has this shape). */
interface ApiErrorBody {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message?: string;
}

/**
 * A thin client of the management API with the admin token. Every failure becomes a `CliError`
 * that says what to do about it; the token is only ever put in the `Authorization` header.
 */
export class ControllerClient {
  private readonly options: ClientOptions;
  private readonly base: string;

  constructor(options: ClientOptions) {
    this.options = options;
    this.base = options.url.replace(/\/+$/, '');
  }

  /** The URL as it may be shown: without any user name or password it carried. */
  get displayUrl(): string {
    return displayUrl(this.options.url);
  }

  get<T>(path: string, context: RequestContext = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, context);
  }

  post<T>(path: string, body?: unknown, context: RequestContext = {}): Promise<T> {
    return this.request<T>('POST', path, body, context);
  }

  async request<T>(
    method: string,
    path: string,
    body: unknown,
    context: RequestContext = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.options.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new CliError(
        CliErrorCode.Unreachable,
        `cannot reach the controller at ${this.displayUrl}: ${networkReason(error)}`,
        { cause: error },
      );
    }
    const text = await response.text();
    if (response.ok) {
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new CliError(
          CliErrorCode.Server,
          `the server at ${this.displayUrl} answered ${method} ${path} with something other than JSON: is --url a Switchboard controller?`,
          { cause: error, statusCode: response.status },
        );
      }
    }
    throw this.toError(method, path, response.status, parseErrorBody(text), context);
  }

  /** Maps an HTTP error to a `CliError` an operator can act on. */
  toError(
    method: string,
    path: string,
    status: number,
    body: ApiErrorBody | undefined,
    context: RequestContext = {},
  ): CliError {
    const said = body?.message;
    const options = { statusCode: status };
    switch (status) {
      case 401: {
        const which =
          this.options.tokenSource === 'none'
            ? 'no admin token was given: pass --token or set SWB_ADMIN_TOKEN'
            : `the admin token from ${this.options.tokenSource === 'flag' ? '--token' : 'SWB_ADMIN_TOKEN'} was refused`;
        return new CliError(
          CliErrorCode.Unauthorized,
          `${which} (401 from ${this.displayUrl})`,
          options,
        );
      }
      case 403:
        return new CliError(
          CliErrorCode.Forbidden,
          `the token from ${this.options.tokenSource === 'flag' ? '--token' : 'SWB_ADMIN_TOKEN'} is not the admin token (it looks like the join token, which only nodes use); this command needs the admin token (403 from ${this.displayUrl})`,
          options,
        );
      case 404:
        if (body?.code === 'SWB_CTL_NOT_FOUND' && context.resource !== undefined) {
          return new CliError(
            CliErrorCode.NotFound,
            `${context.resource} not found on the controller at ${this.displayUrl}`,
            options,
          );
        }
        return new CliError(
          CliErrorCode.NotFound,
          `${this.displayUrl} has no ${method} ${path}${said === undefined ? '' : ` (${said})`}: is --url a Switchboard controller?`,
          options,
        );
      case 400:
        return new CliError(
          CliErrorCode.InvalidRequest,
          `the controller refused the request: ${said ?? 'invalid request'}`,
          options,
        );
      case 409:
        return new CliError(CliErrorCode.Conflict, said ?? 'conflict', options);
      case 429:
      case 503:
        return new CliError(
          CliErrorCode.Unavailable,
          `the controller at ${this.displayUrl} cannot serve this now (${status}): ${said ?? 'try again'}`,
          options,
        );
      default:
        return new CliError(
          CliErrorCode.Server,
          `the controller at ${this.displayUrl} answered ${method} ${path} with ${status}${said === undefined ? '' : `: ${said}`}`,
          options,
        );
    }
  }
}

function parseErrorBody(text: string): ApiErrorBody | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { statusCode, code, message } = value as Record<string, unknown>;
    return {
      ...(typeof statusCode === 'number' ? { statusCode } : {}),
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    };
  } catch {
    // Not the controller's JSON (a proxy's HTML page): the status alone says enough.
    return undefined;
  }
}

/** `fetch failed` says nothing; the cause (ECONNREFUSED, ENOTFOUND…) does. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** A URL without credentials, for messages. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
