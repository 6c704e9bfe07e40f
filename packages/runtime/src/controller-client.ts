import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Compile, type Validator } from 'typebox/compile';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import {
  HeartbeatReplySchema,
  NodeRegistrationSchema,
  TopologySchema,
  controllerRoutes,
  type HeartbeatReply,
  type NodeLoad,
  type NodeRegistration,
  type NodeRole,
  type Topology,
} from './controller-api.js';
import { envNameFor } from './config.js';
import { SwitchboardError } from './errors.js';
import { defineComponent, type Component } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { OpsServer } from './ops-server.js';
import type { Secret } from './secret.js';
import { formatHostPort, redactUri } from './uri.js';

/** Codes of the errors the controller client produces; documented in the runtime README. */
export const ControllerClientErrorCode = {
  /** The options given to `createControllerClient` are unusable. */
  InvalidOptions: 'SWB_CONTROLLER_CLIENT_INVALID_OPTIONS',
  /** No answer: connection refused, reset, timed out. */
  Unreachable: 'SWB_CONTROLLER_CLIENT_UNREACHABLE',
  /** The controller answered 5xx (e.g. it cannot reach its store). */
  Unavailable: 'SWB_CONTROLLER_CLIENT_UNAVAILABLE',
  /** The controller refused the request (401, 403, 400): retrying the same call will not help. */
  Rejected: 'SWB_CONTROLLER_CLIENT_REJECTED',
  /** The controller answered with a body that does not match the contract. */
  InvalidResponse: 'SWB_CONTROLLER_CLIENT_INVALID_RESPONSE',
} as const;
export type ControllerClientErrorCode =
  (typeof ControllerClientErrorCode)[keyof typeof ControllerClientErrorCode];

/** A failed exchange with a controller. `url` is the controller's base URL, credentials masked. */
export class ControllerClientError extends SwitchboardError {
  override name = 'ControllerClientError';
  readonly url: string | undefined;

  constructor(
    code: ControllerClientErrorCode,
    message: string,
    options: {
      readonly url?: string;
      readonly cause?: unknown;
      readonly retryable?: boolean;
      readonly statusCode?: number;
    } = {},
  ) {
    const { url, ...rest } = options;
    super(code, message, rest);
    this.url = url === undefined ? undefined : redactUri(url);
  }
}

export interface ControllerClientOptions {
  /** Base URLs of the controllers (`http://ctl-1:9400`); any of them will do. */
  readonly urls: readonly string[];
  /** The cluster's join token, sent as `Authorization: Bearer`; never logged. */
  readonly joinToken: Secret;
  /**
   * What the node registers as. A function is called at `start()`: a daemon's ops port may be
   * known only once its server listens (port 0).
   */
  readonly node: NodeRegistration | (() => NodeRegistration);
  /** Default 2000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** What each heartbeat reports; read once per heartbeat. */
  readonly load?: () => NodeLoad;
  /** Bound on one request (a long-poll gets `longPollMs` more); default 5000 ms. */
  readonly requestTimeoutMs?: number;
  /** How long the controller may hold a topology request; default 25000 ms (the controller caps it at 30000). */
  readonly longPollMs?: number;
  /** Retry delays after every controller failed in turn; default 250 ms doubling up to 10 s. */
  readonly retry?: Pick<BackoffOptions, 'baseMs' | 'maxMs'>;
}

export interface ControllerClientDeps {
  readonly logger: Logger;
  /** Default: the global `fetch`; tests inject a fake. */
  readonly fetch?: typeof globalThis.fetch;
  /** Jitter source in [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

export interface ControllerClientEvents {
  /** A topology newer than the one held, already validated. */
  topology: [topology: Topology];
  /** An operator drained (true) or undrained (false) this node. */
  drained: [drained: boolean];
  /** A controller answered after none (or another one) did. */
  connected: [url: string];
  /** The controller in use stopped answering. */
  disconnected: [url: string];
}

/** Default leave budget: a shutdown must not wait on a controller that is gone. */
const leaveTimeoutMs = 1000;

/** A response the loops act on: the status and, for JSON replies, the parsed body. */
interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** Why a request failed, kept apart from errors so loops can branch on it without instanceof. */
type Failure = ControllerClientError;

const heartbeatReplyValidator: Validator = Compile(HeartbeatReplySchema);
const topologyValidator: Validator = Compile(TopologySchema);
const registrationValidator: Validator = Compile(NodeRegistrationSchema);

function firstIssue(validator: Validator, value: unknown): string {
  const [first] = validator.Errors(value);
  if (first === undefined) return 'does not match the schema';
  return `${first.instancePath === '' ? '/' : first.instancePath}: ${first.message}`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    // undici says only "fetch failed"; the socket error is in its cause.
    const cause = error.cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === 'string'
        ? `${error.message} (${code})`
        : `${error.message} (${cause.message})`;
    }
    return error.message;
  }
  return String(error);
}

/** Stands in for a node given as a function until start() calls it; never sent. */
const placeholderNode: NodeRegistration = {
  id: 'unstarted',
  roles: ['worker'],
  address: 'unstarted',
  version: '0',
};

function checkedNode(node: NodeRegistration): NodeRegistration {
  if (!registrationValidator.Check(node)) {
    throw new ControllerClientError(
      ControllerClientErrorCode.InvalidOptions,
      `node: ${firstIssue(registrationValidator, node)}`,
    );
  }
  return node;
}

/**
 * Keeps a node known to the controllers: registers it, heartbeats, follows the topology with a
 * long-poll and says when the node is drained. It never makes its daemon wait or fail: `start()`
 * returns at once and everything retries in the background, cycling through the controllers, so
 * a daemon keeps working (with the last topology it had) while no controller answers.
 */
export class ControllerClient extends EventEmitter<ControllerClientEvents> implements Component {
  readonly #urls: readonly string[];
  readonly #token: Secret;
  readonly #nodeSource: NodeRegistration | (() => NodeRegistration);
  #node: NodeRegistration;
  readonly #heartbeatIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #longPollMs: number;
  readonly #retry: BackoffOptions;
  readonly #load: (() => NodeLoad) | undefined;
  readonly #fetch: typeof globalThis.fetch;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #lifecycle: Component;

  /** Aborts the loops, their sleeps and their requests. */
  readonly #stop = new AbortController();
  /** Aborts the leave request of close() (destroy during close). */
  readonly #abortLeave = new AbortController();
  #loops: Promise<void>[] = [];

  /** Index of the controller both loops use; moved on by a failure. */
  #current = 0;
  /** The controller that answered last, undefined while none does. */
  #connectedUrl: string | undefined;
  /** What the log last said about reachability, so a retry loop logs a state change once. */
  #reported: string | undefined;
  #registered = false;
  #topology: Topology | undefined;
  #drained = false;
  #fetchingTopology = false;

  constructor(options: ControllerClientOptions, deps: ControllerClientDeps) {
    super();
    const invalid = (message: string): ControllerClientError =>
      new ControllerClientError(ControllerClientErrorCode.InvalidOptions, message);
    if (options.urls.length === 0) throw invalid('urls: at least one controller URL is needed');
    for (const url of options.urls) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalid(`urls: not a URL: ${redactUri(url)}`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw invalid(`urls: expected http(s), got ${redactUri(url)}`);
      }
    }
    // A node given as a function is checked when start() calls it.
    if (typeof options.node !== 'function') this.#node = checkedNode(options.node);
    else this.#node = placeholderNode;
    const positive = (name: string, value: number | undefined, fallback: number): number => {
      const n = value ?? fallback;
      if (!Number.isFinite(n) || n <= 0) throw invalid(`${name}: expected a number > 0`);
      return n;
    };
    this.#urls = Object.freeze(options.urls.map((url) => url.replace(/\/+$/, '')));
    this.#token = options.joinToken;
    this.#nodeSource = options.node;
    this.#heartbeatIntervalMs = positive('heartbeatIntervalMs', options.heartbeatIntervalMs, 2000);
    this.#requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 5000);
    this.#longPollMs = Math.min(30_000, positive('longPollMs', options.longPollMs, 25_000));
    this.#retry = {
      baseMs: positive('retry.baseMs', options.retry?.baseMs, 250),
      maxMs: positive('retry.maxMs', options.retry?.maxMs, 10_000),
      jitter: 'equal',
    };
    this.#load = options.load;
    this.#fetch = deps.fetch ?? globalThis.fetch;
    this.#random = deps.random ?? Math.random;
    this.#logger = deps.logger.child({ component: 'controller-client' });

    this.#lifecycle = defineComponent({
      // async only so that an invalid node from a function becomes a rejection; nothing is awaited.
      // eslint-disable-next-line @typescript-eslint/require-await
      start: async () => {
        if (typeof this.#nodeSource === 'function') this.#node = checkedNode(this.#nodeSource());
        this.#loops = [
          this.#guard('heartbeat', this.#heartbeatLoop()),
          this.#guard('topology', this.#watchLoop()),
        ];
      },
      close: async () => {
        this.#stop.abort();
        await Promise.all(this.#loops);
        if (this.#registered) await this.#leave();
      },
      destroy: async () => {
        this.#stop.abort();
        this.#abortLeave.abort();
        await Promise.all(this.#loops);
      },
    });
  }

  /** Starts the loops and resolves at once: no controller needs to answer. */
  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  /** Stops the loops and tells a controller the node leaves (best effort, at most 1 s). */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  /** Stops at once, without telling the controller: the lease expires by itself. */
  destroy(): Promise<void> {
    return this.#lifecycle.destroy();
  }

  /** The newest valid topology received; undefined before the first. Kept while no controller answers. */
  topology(): Topology | undefined {
    return this.#topology;
  }

  /** Whether an operator drained this node, as of the last heartbeat reply. */
  get drained(): boolean {
    return this.#drained;
  }

  /** The controller that answered last; undefined while none answers. */
  get connectedUrl(): string | undefined {
    return this.#connectedUrl;
  }

  // ---------------------------------------------------------------------------------------------
  // Loops

  /** The loops catch their own failures; this only guards against a bug turning into a rejection. */
  async #guard(name: string, loop: Promise<void>): Promise<void> {
    try {
      await loop;
    } catch (error) {
      if (!this.#isStopped())
        this.#logger.error({ err: error, loop: name }, 'controller loop failed');
    }
  }

  async #heartbeatLoop(): Promise<void> {
    let failures = 0;
    // A node the controller forgets right after registering it must not spin register/heartbeat.
    let justRegistered = false;
    while (!this.#isStopped()) {
      if (!this.#registered) {
        const failure = await this.#register();
        if (failure === undefined) {
          // Heartbeat at once: the reply says whether the node is drained and which topology is current.
          failures = 0;
          justRegistered = true;
          continue;
        }
        failures += 1;
        if (!(await this.#pause(this.#retryDelay(failures)))) return;
        continue;
      }
      const result = await this.#heartbeat();
      if (result === undefined) {
        failures = 0;
        justRegistered = false;
        if (!(await this.#pause(this.#heartbeatIntervalMs))) return;
        continue;
      }
      if (result === 'unknown') {
        // The controller forgot the node (its record expired or its store was reset).
        this.#registered = false;
        if (!justRegistered) {
          this.#logger.info('controller does not know this node; registering again');
          continue;
        }
      }
      failures += 1;
      if (!(await this.#pause(this.#retryDelay(failures)))) return;
    }
  }

  async #watchLoop(): Promise<void> {
    let failures = 0;
    while (!this.#isStopped()) {
      const held = this.#topology?.version;
      const query = held === undefined ? '' : `?since=${held}&waitMs=${this.#longPollMs}`;
      const url = this.#urls[this.#current] ?? '';
      const outcome = await this.#exchange(
        'GET',
        url,
        `${controllerRoutes.topology}${query}`,
        undefined,
        this.#requestTimeoutMs + (held === undefined ? 0 : this.#longPollMs),
      );
      if (this.#isStopped()) return;
      let failure: Failure | undefined;
      if (outcome instanceof ControllerClientError) {
        failure = outcome;
      } else if (outcome.status === 204) {
        // Without `since` the controller should answer at once with a document; one that says
        // "nothing newer" instead must not be asked again in a tight loop.
        if (held === undefined && !(await this.#pause(this.#retryDelay(this.#urls.length)))) return;
        failure = undefined;
      } else if (outcome.status === 200) {
        const applied = this.#applyTopology(url, outcome.body);
        if (applied === 'stale') {
          // A controller behind the others answers at once with its older document: without a
          // pause the loop would ask it again and again.
          failures = 0;
          if (!(await this.#pause(backoffDelay(1, this.#retry, this.#random)))) return;
          continue;
        }
        failure = applied;
      } else {
        failure = this.#unexpected(url, outcome);
      }
      if (failure === undefined) {
        failures = 0;
        continue;
      }
      this.#failed(url, failure);
      failures += 1;
      if (!(await this.#pause(this.#retryDelay(failures)))) return;
    }
  }

  /** After a failure the next controller is tried at once; after a full round, backoff applies. */
  #retryDelay(failures: number): number {
    if (failures % this.#urls.length !== 0) return 0;
    return backoffDelay(failures / this.#urls.length, this.#retry, this.#random);
  }

  /** A method, not a property read: TypeScript would narrow `aborted` across awaits. */
  #isStopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Sleeps unless stopped; false when the client is stopping. */
  async #pause(ms: number): Promise<boolean> {
    if (this.#isStopped()) return false;
    if (ms <= 0) return true;
    try {
      await sleep(ms, undefined, { signal: this.#stop.signal });
      return true;
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Exchanges

  async #register(): Promise<Failure | undefined> {
    const url = this.#urls[this.#current] ?? '';
    const outcome = await this.#exchange(
      'POST',
      url,
      controllerRoutes.register,
      this.#node,
      this.#requestTimeoutMs,
    );
    if (this.#isStopped()) return undefined;
    if (outcome instanceof ControllerClientError) return this.#failed(url, outcome);
    if (outcome.status !== 200 && outcome.status !== 201) {
      return this.#failed(url, this.#unexpected(url, outcome));
    }
    this.#registered = true;
    this.#succeeded(url);
    this.#logger.info(
      { url: redactUri(url), roles: this.#node.roles },
      'registered with the controller',
    );
    return undefined;
  }

  async #heartbeat(): Promise<Failure | 'unknown' | undefined> {
    const url = this.#urls[this.#current] ?? '';
    let load: NodeLoad | undefined;
    try {
      load = this.#load?.();
    } catch (error) {
      // A broken load probe must not cost the node its lease.
      this.#logger.warn({ err: error }, 'load probe failed; heartbeat sent without load');
    }
    const outcome = await this.#exchange(
      'PUT',
      url,
      controllerRoutes.heartbeat(this.#node.id),
      load === undefined ? {} : { load },
      this.#requestTimeoutMs,
    );
    if (this.#isStopped()) return undefined;
    if (outcome instanceof ControllerClientError) return this.#failed(url, outcome);
    if (outcome.status === 404) {
      this.#succeeded(url);
      return 'unknown';
    }
    if (outcome.status !== 200) return this.#failed(url, this.#unexpected(url, outcome));
    if (!heartbeatReplyValidator.Check(outcome.body)) {
      return this.#failed(
        url,
        new ControllerClientError(
          ControllerClientErrorCode.InvalidResponse,
          `heartbeat reply ${firstIssue(heartbeatReplyValidator, outcome.body)}`,
          { url, retryable: true },
        ),
      );
    }
    this.#succeeded(url);
    this.#applyHeartbeat(url, outcome.body as HeartbeatReply);
    return undefined;
  }

  #applyHeartbeat(url: string, reply: HeartbeatReply): void {
    if (reply.drained !== this.#drained) {
      this.#drained = reply.drained;
      this.#logger.info(
        { drained: reply.drained },
        reply.drained ? 'node drained by the controller' : 'node undrained by the controller',
      );
      this.#emitSafely('drained', reply.drained);
    }
    const held = this.#topology?.version;
    // The long-poll would bring it too, but it may be parked on a controller that lags behind.
    if ((held === undefined || reply.topologyVersion > held) && !this.#fetchingTopology) {
      this.#fetchingTopology = true;
      void this.#fetchTopologyNow(url).finally(() => {
        this.#fetchingTopology = false;
      });
    }
  }

  async #fetchTopologyNow(url: string): Promise<void> {
    // Without `since`, the controller answers at once with its current document.
    const outcome = await this.#exchange(
      'GET',
      url,
      controllerRoutes.topology,
      undefined,
      this.#requestTimeoutMs,
    );
    if (this.#isStopped()) return;
    if (outcome instanceof ControllerClientError) {
      this.#logger.debug({ err: outcome }, 'topology fetch after heartbeat failed');
      return;
    }
    if (outcome.status !== 200) return;
    const failure = this.#applyTopology(url, outcome.body);
    if (failure !== undefined)
      this.#logger.debug({ err: failure }, 'topology fetch after heartbeat failed');
  }

  /** Validates and applies a topology document: the failure when it is invalid, `stale` when not newer. */
  #applyTopology(url: string, body: unknown): Failure | 'stale' | undefined {
    if (!topologyValidator.Check(body)) {
      const failure = new ControllerClientError(
        ControllerClientErrorCode.InvalidResponse,
        `topology ${firstIssue(topologyValidator, body)}`,
        { url, retryable: true },
      );
      this.#logger.warn({ err: failure, url: redactUri(url) }, 'invalid topology ignored');
      return failure;
    }
    this.#succeeded(url);
    const topology = body as Topology;
    const held = this.#topology?.version;
    // Two loops fetch and controllers may lag each other: never step back to an older version.
    if (held !== undefined && topology.version <= held) return 'stale';
    this.#topology = topology;
    this.#logger.debug({ version: topology.version, previous: held }, 'topology received');
    this.#emitSafely('topology', topology);
    return undefined;
  }

  async #leave(): Promise<void> {
    const deadline = AbortSignal.timeout(leaveTimeoutMs);
    const signal = AbortSignal.any([deadline, this.#abortLeave.signal]);
    // Start with the controller that answered last; the others only while the budget lasts.
    const order = [...this.#urls.slice(this.#current), ...this.#urls.slice(0, this.#current)];
    for (const url of order) {
      if (signal.aborted) break;
      const outcome = await this.#send(
        'DELETE',
        url,
        controllerRoutes.lease(this.#node.id),
        undefined,
        signal,
      );
      if (!(outcome instanceof ControllerClientError) && outcome.status < 500) {
        this.#logger.info({ url: redactUri(url), status: outcome.status }, 'left the cluster');
        return;
      }
    }
    this.#logger.warn('could not tell a controller that the node leaves; its lease will expire');
  }

  /** One request bounded by `timeoutMs` and by the client's stop signal. */
  #exchange(
    method: string,
    url: string,
    path: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<Reply | ControllerClientError> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]);
    return this.#send(method, url, path, body, signal);
  }

  /** Sends a request; never rejects, so loops handle a failure as a value. */
  async #send(
    method: string,
    url: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<Reply | ControllerClientError> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token.reveal()}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.#fetch(`${url}${path}`, {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      return new ControllerClientError(
        ControllerClientErrorCode.Unreachable,
        `${method} ${path} on ${redactUri(url)}: ${describe(cause)}`,
        { url, cause, retryable: true },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      return new ControllerClientError(
        ControllerClientErrorCode.Unreachable,
        `${method} ${path} on ${redactUri(url)}: reading the reply failed: ${describe(cause)}`,
        { url, cause, retryable: true },
      );
    }
    if (text === '') return { status: response.status, body: undefined };
    try {
      return { status: response.status, body: JSON.parse(text) as unknown };
    } catch (cause) {
      return new ControllerClientError(
        ControllerClientErrorCode.InvalidResponse,
        `${method} ${path} on ${redactUri(url)}: reply ${response.status} is not JSON`,
        { url, cause, retryable: true, statusCode: response.status },
      );
    }
  }

  /** An answer the contract does not allow for this call, as an error naming the controller's code. */
  #unexpected(url: string, reply: Reply): ControllerClientError {
    const body = reply.body as { code?: unknown; message?: unknown } | undefined;
    const code = typeof body?.code === 'string' ? ` ${body.code}` : '';
    const message = typeof body?.message === 'string' ? `: ${body.message}` : '';
    const detail = `controller ${redactUri(url)} answered ${reply.status}${code}${message}`;
    if (reply.status >= 500) {
      return new ControllerClientError(ControllerClientErrorCode.Unavailable, detail, {
        url,
        retryable: true,
        statusCode: reply.status,
      });
    }
    if (reply.status >= 400) {
      return new ControllerClientError(ControllerClientErrorCode.Rejected, detail, {
        url,
        retryable: false,
        statusCode: reply.status,
      });
    }
    return new ControllerClientError(ControllerClientErrorCode.InvalidResponse, detail, {
      url,
      retryable: true,
      statusCode: reply.status,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Reachability

  /** A listener that throws must not stop the loops: the node would lose its lease over it. */
  #emitSafely<K extends keyof ControllerClientEvents>(
    event: K,
    ...args: ControllerClientEvents[K]
  ): void {
    try {
      (this.emit as (event: K, ...args: ControllerClientEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger.error({ err: error, event }, 'a controller client listener threw');
    }
  }

  #succeeded(url: string): void {
    if (this.#connectedUrl === url) return;
    this.#connectedUrl = url;
    if (this.#reported !== undefined) {
      this.#logger.info({ url: redactUri(url) }, 'controller reachable again');
    }
    this.#reported = undefined;
    this.#emitSafely('connected', url);
  }

  /** Records a failure, moves on to the next controller and logs a change of state once. */
  #failed(url: string, failure: ControllerClientError): ControllerClientError {
    if (this.#isStopped()) return failure;
    if (this.#urls[this.#current] === url) this.#current = (this.#current + 1) % this.#urls.length;
    if (this.#connectedUrl === url) {
      this.#connectedUrl = undefined;
      this.#emitSafely('disconnected', url);
    }
    // An invalid document was logged where it was found; only a change of reachability is news.
    if (failure.code === ControllerClientErrorCode.InvalidResponse) return failure;
    // A rejection (bad token, bad body) is worth its own line; network noise is one "unreachable".
    const state =
      failure.code === ControllerClientErrorCode.Rejected
        ? `${failure.code}:${failure.statusCode ?? ''}`
        : 'unreachable';
    if (this.#connectedUrl === undefined && this.#reported !== state) {
      this.#reported = state;
      if (state === 'unreachable') {
        this.#logger.warn(
          { err: failure, urls: this.#urls.map(redactUri) },
          'controller unreachable; the daemon keeps running and retries in the background',
        );
      } else {
        this.#logger.error(
          { err: failure },
          'controller rejected this node; retrying in the background',
        );
      }
    } else {
      this.#logger.debug({ err: failure }, 'controller request failed');
    }
    return failure;
  }
}

/** Builds a controller client; see `ControllerClient`. Throws `SWB_CONTROLLER_CLIENT_INVALID_OPTIONS` on unusable options. */
export function createControllerClient(
  options: ControllerClientOptions,
  deps: ControllerClientDeps,
): ControllerClient {
  return new ControllerClient(options, deps);
}

/** The `controller` section of a daemon's config (`controllerClientConfigSchema()`), decoded. */
export interface ControllerClientConfig {
  readonly urls: readonly string[];
  readonly joinToken?: Secret | undefined;
  readonly heartbeatIntervalMs: number;
}

export interface DaemonControllerOptions {
  readonly role: NodeRole;
  readonly nodeId: string;
  /** The daemon's package version. */
  readonly version: string;
  /** Its ops endpoint: the address the node registers with, read once it listens. */
  readonly ops: Pick<OpsServer, 'address'>;
  /** The configured ops host; a wildcard (0.0.0.0, ::) is replaced by the machine's host name. */
  readonly opsHost: string;
  readonly load?: () => NodeLoad;
}

const wildcardHosts = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * The controller client of a daemon, or undefined when its config names no controller (the
 * daemon then runs on its own, as before). Compose it after the ops server, so the address it
 * registers is the port actually bound, and close it first, so the node leaves before it drains.
 * Throws `SWB_CONTROLLER_CLIENT_INVALID_OPTIONS` when URLs are set without a join token; a
 * daemon's `requiredWhen` (`controllerRequiredWhen`) normally rejects that config earlier.
 */
export function createDaemonControllerClient(
  config: ControllerClientConfig,
  options: DaemonControllerOptions,
  deps: ControllerClientDeps,
): ControllerClient | undefined {
  if (config.urls.length === 0) return undefined;
  if (config.joinToken === undefined) {
    throw new ControllerClientError(
      ControllerClientErrorCode.InvalidOptions,
      `${envNameFor('controller.joinToken')} is required when ${envNameFor('controller.urls')} is set`,
    );
  }
  const host = wildcardHosts.has(options.opsHost) ? hostname() : options.opsHost;
  return createControllerClient(
    {
      urls: config.urls,
      joinToken: config.joinToken,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      node: () => ({
        id: options.nodeId,
        roles: [options.role],
        address: formatHostPort({ host, port: options.ops.address().port }),
        version: options.version,
      }),
      ...(options.load === undefined ? {} : { load: options.load }),
    },
    deps,
  );
}
