import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { defineComponent, redactCredentials, redactUri, type Logger } from '@switchboard/runtime';
import type { Registry } from '@switchboard/runtime';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Message,
  type Options,
} from 'amqplib';
import { BoundedBuffer, type BufferLimits } from './buffer.js';
import { eventNames, isEventName, type EventEnvelope, type EventName } from './catalogue/events.js';
import { checkEvent } from './catalogue/validate.js';
import {
  BusBufferFullError,
  BusClosedError,
  BusInvalidArgumentError,
  BusInvalidEventError,
  BusNackedError,
  BusTopologyError,
  BusUnavailableError,
  BusUnroutableError,
} from './errors.js';
import { createBusMetrics, type BusMetrics, type BoundCounter } from './metrics.js';
import {
  attemptsHeader,
  backoffDelay,
  deadKindHeader,
  deadQueueHeader,
  deadReasonHeader,
  onHandlerFailure,
  truncateReason,
} from './retry.js';
import {
  assertTopology,
  consumerQueueTopology,
  deadLetterExchangeOf,
  defaultEventExchange,
  emptyTopology,
  mergeTopologies,
  type Topology,
} from './topology.js';

export interface BusOptions {
  /** RabbitMQ nodes of one cluster; the bus connects to them in turn. */
  readonly urls: readonly string[];
  /** Who publishes, for the envelope's `source` (e.g. `queue/queue-1`). */
  readonly source: string;
  /** The events exchange (topic); default `switchboard.events`. */
  readonly exchange?: string;
  /** Declared on every connect, besides each subscription's own queue topology. */
  readonly topology?: Topology;
  /** AMQP heartbeat; default 10 s. */
  readonly heartbeatSeconds?: number;
  /** TCP + AMQP handshake bound per attempt; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap; default 100 ms and 10 s. */
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /** `start()` rejects if no broker answered in this time; default 30 s. */
  readonly startTimeoutMs?: number;
  /** Publish buffer while disconnected; default 10 000 messages and 16 MiB. */
  readonly buffer?: Partial<BufferLimits>;
  /** Default prefetch of a subscription; default 32. */
  readonly prefetch?: number;
  /** Handler runs per message before it is dead-lettered; default 5. */
  readonly maxAttempts?: number;
  /** `close()` waits this long for handlers and unconfirmed publishes; default 10 s. */
  readonly drainTimeoutMs?: number;
  /** Shown in the RabbitMQ management UI. */
  readonly connectionName?: string;
}

export interface BusDeps {
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** For tests of the backoff; default Math.random. */
  readonly random?: () => number;
}

export interface PublishOptions {
  /** Default a fresh UUID. */
  readonly messageId?: string;
  /** Default true: the broker writes it to disk (quorum queues always do). */
  readonly persistent?: boolean;
  /** Default true: an unroutable message rejects with `SWB_BUS_UNROUTABLE`. */
  readonly mandatory?: boolean;
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly contentType?: string;
  readonly type?: string;
  /** Per-message TTL in ms. */
  readonly expirationMs?: number;
  readonly correlationId?: string;
}

export interface PublishReceipt {
  readonly messageId: string;
}

/** What a handler receives with each event. */
export interface DeliveryContext {
  readonly queue: string;
  /** Handler runs so far, this one included (1 on first delivery). */
  readonly attempt: number;
  /** The broker's redelivered flag (a previous delivery was not acked: crash, lost connection). */
  readonly redelivered: boolean;
  readonly headers: Readonly<Record<string, unknown>>;
}

export type EventHandler<N extends EventName> = (
  event: EventEnvelope<N>,
  context: DeliveryContext,
) => Promise<void> | void;

export interface SubscribeOptions {
  /** Unacked deliveries on this consumer's channel; default the bus's `prefetch`. */
  readonly prefetch?: number;
  /** Handlers running at once (≤ prefetch); default the prefetch. */
  readonly concurrency?: number;
  /** Default the bus's `maxAttempts`. */
  readonly maxAttempts?: number;
  /**
   * Declare the queue's topology (queue bound to each event name, `.dlx`, `.dead`); default true.
   * Set false when the topology comes from `BusOptions.topology` or an operator.
   */
  readonly declare?: boolean;
  readonly messageTtlMs?: number;
  readonly maxLength?: number;
}

export interface Subscription {
  readonly queue: string;
  /** Stops consuming; waits for handlers in progress. */
  cancel(): Promise<void>;
}

export type BusState = 'idle' | 'connecting' | 'connected' | 'closing' | 'closed';

export interface BusEvents {
  connected: [{ readonly url: string; readonly generation: number }];
  disconnected: [{ readonly reason: string }];
}

/**
 * The AMQP bus: one connection (to any of `urls`, reconnecting with backoff and jitter), a
 * confirm channel for publishing, one channel per subscription. Topology is declared on every
 * connect; publishes wait in a bounded buffer while disconnected; consumers are re-established
 * after a reconnect. See the package README for the delivery guarantees.
 */
export interface Bus {
  start(): Promise<void>;
  /** Stops consuming, waits (bounded) for handlers and unconfirmed publishes, closes. */
  close(): Promise<void>;
  destroy(): Promise<void>;
  readonly state: BusState;
  isConnected(): boolean;
  /** Publishes raw bytes; resolves once the broker confirmed. */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: PublishOptions,
  ): Promise<PublishReceipt>;
  /**
   * Validates `payload` against the catalogue (`SWB_BUS_INVALID_EVENT` and nothing sent if it
   * fails), wraps it in an envelope and publishes it on the events exchange with the event name as
   * routing key; resolves with the envelope once the broker confirmed.
   */
  publishEvent<N extends EventName>(
    name: N,
    payload: unknown,
    options?: Pick<PublishOptions, 'messageId' | 'headers' | 'mandatory'>,
  ): Promise<EventEnvelope<N>>;
  /**
   * Consumes `queue`, handing each valid event of `names` to `handler`: acked after it resolves;
   * republished with `x-attempts` + 1 when it throws, dead-lettered after `maxAttempts`; anything
   * invalid (not JSON, unknown name, failing schema) dead-lettered at once.
   */
  subscribe<N extends EventName>(
    queue: string,
    names: readonly N[],
    handler: EventHandler<N>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  on<E extends keyof BusEvents>(event: E, listener: (...args: BusEvents[E]) => void): void;
  off<E extends keyof BusEvents>(event: E, listener: (...args: BusEvents[E]) => void): void;
  /** Publishes waiting for a connection. */
  readonly buffered: number;
}

interface PendingPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish & { messageId: string };
  readonly resolve: (receipt: PublishReceipt) => void;
  readonly reject: (error: unknown) => void;
  returned: string | undefined;
  requeues: number;
}

interface SubscriptionState {
  readonly queue: string;
  readonly names: ReadonlySet<string>;
  readonly handler: EventHandler<EventName>;
  readonly prefetch: number;
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly topology: Topology;
  channel: Channel | undefined;
  consumerTag: string | undefined;
  generation: number;
  cancelled: boolean;
  /** Deliveries being handled; `drained` wakes when it falls to 0. */
  active: number;
  drained: (() => void)[];
  running: number;
  readonly waiting: (() => void)[];
  readonly consumed: BoundCounter;
  readonly acked: BoundCounter;
}

const maxRequeues = 10;
const noExchangePattern = /no exchange '([^']*)'/;

export function createBus(options: BusOptions, deps: BusDeps = {}): Bus {
  return new AmqpBus(options, deps);
}

class AmqpBus implements Bus {
  readonly #urls: readonly string[];
  readonly #source: string;
  readonly #exchange: string;
  readonly #topology: Topology;
  readonly #heartbeat: number;
  readonly #connectTimeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #startTimeoutMs: number;
  readonly #prefetch: number;
  readonly #maxAttempts: number;
  readonly #drainTimeoutMs: number;
  readonly #connectionName: string;
  readonly #logger: Logger | undefined;
  readonly #metrics: BusMetrics;
  readonly #random: () => number;
  readonly #emitter = new EventEmitter();
  readonly #buffer: BoundedBuffer<PendingPublish>;
  readonly #inFlight = new Map<string, PendingPublish>();
  readonly #subscriptions = new Set<SubscriptionState>();
  /** Labelled children cached: prom-client hashes the labels on every `inc({ … })`. */
  readonly #exchangeMetrics = new Map<
    string,
    { published: BoundCounter; confirmed: BoundCounter }
  >();
  readonly #lifecycle;

  #state: BusState = 'idle';
  #connection: ChannelModel | undefined;
  #publisher: ConfirmChannel | undefined;
  #writable = true;
  #generation = 0;
  #urlIndex = 0;
  #orphans: PendingPublish[] = [];
  #missingExchange: string | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #wakeReconnect: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(options: BusOptions, deps: BusDeps) {
    if (options.urls.length === 0) throw new BusInvalidArgumentError('bus: urls is empty');
    this.#urls = options.urls;
    this.#source = options.source;
    this.#exchange = options.exchange ?? defaultEventExchange;
    this.#topology = mergeTopologies(
      { exchanges: [{ name: this.#exchange, type: 'topic' }], queues: [], bindings: [] },
      options.topology ?? emptyTopology,
    );
    this.#heartbeat = options.heartbeatSeconds ?? 10;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#backoff = {
      initialMs: options.reconnectInitialMs ?? 100,
      maxMs: options.reconnectMaxMs ?? 10_000,
    };
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.#prefetch = positive('prefetch', options.prefetch ?? 32);
    this.#maxAttempts = positive('maxAttempts', options.maxAttempts ?? 5);
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
    this.#connectionName = options.connectionName ?? options.source;
    this.#buffer = new BoundedBuffer({
      maxMessages: positive('buffer.maxMessages', options.buffer?.maxMessages ?? 10_000),
      maxBytes: positive('buffer.maxBytes', options.buffer?.maxBytes ?? 16 * 1024 * 1024),
    });
    this.#logger = deps.logger?.child({ component: 'bus' });
    this.#metrics = createBusMetrics(deps.registry);
    this.#random = deps.random ?? Math.random;
    this.#lifecycle = defineComponent({
      start: () => this.#start(),
      close: () => this.#close(),
      destroy: () => this.#destroy(),
    });
  }

  get state(): BusState {
    return this.#state;
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  isConnected(): boolean {
    return this.#state === 'connected' && this.#publisher !== undefined;
  }

  on<E extends keyof BusEvents>(event: E, listener: (...args: BusEvents[E]) => void): void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
  }

  off<E extends keyof BusEvents>(event: E, listener: (...args: BusEvents[E]) => void): void {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
  }

  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  destroy(): Promise<void> {
    return this.#lifecycle.destroy();
  }

  #perExchange(exchange: string): { published: BoundCounter; confirmed: BoundCounter } {
    let children = this.#exchangeMetrics.get(exchange);
    if (children === undefined) {
      children = {
        published: this.#metrics.published.labels({ exchange }),
        confirmed: this.#metrics.confirmed.labels({ exchange }),
      };
      this.#exchangeMetrics.set(exchange, children);
    }
    return children;
  }

  /** A method, not a field test, so the compiler does not narrow it across awaits. */
  #stopping(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  // ---- connection -----------------------------------------------------------------------------

  async #start(): Promise<void> {
    this.#state = 'connecting';
    let timer: NodeJS.Timeout | undefined;
    let onConnected: (() => void) | undefined;
    const connected = new Promise<void>((resolve) => {
      onConnected = resolve;
      this.#emitter.once('connected', resolve);
    });
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new BusUnavailableError(
            `no RabbitMQ node answered within ${this.#startTimeoutMs} ms (${this.#urls.map(redactUri).join(', ')})`,
          ),
        );
      }, this.#startTimeoutMs);
    });
    this.#loop = this.#connectLoop(true);
    try {
      await Promise.race([connected, timedOut, this.#loop.then(() => connected)]);
    } catch (error) {
      // Stop the reconnect loop: a failed start is never closed by the lifecycle.
      await this.#shutdown(new BusClosedError('the bus failed to start'));
      throw error;
    } finally {
      clearTimeout(timer);
      if (onConnected !== undefined) this.#emitter.off('connected', onConnected);
    }
  }

  /** Tries each URL in turn until one connects; only a refused topology on start gives up. */
  async #connectLoop(initial: boolean): Promise<void> {
    let attempt = 0;
    while (this.#state === 'connecting') {
      const url = this.#urls[this.#urlIndex % this.#urls.length] ?? '';
      this.#urlIndex++;
      try {
        await this.#open(url);
        return;
      } catch (error) {
        // close() or destroy() ran while this attempt was in flight.
        if (this.#stopping()) return;
        attempt++;
        if (initial && error instanceof BusTopologyError) {
          this.#state = 'closed';
          throw error;
        }
        const delay = backoffDelay(attempt, this.#backoff, this.#random);
        this.#logger?.warn(
          { url: redactUri(url), attempt, delayMs: delay, err: describe(error) },
          'bus: cannot connect to RabbitMQ; retrying',
        );
        await new Promise<void>((resolve) => {
          this.#wakeReconnect = resolve;
          this.#reconnectTimer = setTimeout(resolve, delay);
        });
        this.#wakeReconnect = undefined;
      }
    }
  }

  async #open(url: string): Promise<void> {
    const target = new URL(url);
    if (!target.searchParams.has('heartbeat')) {
      target.searchParams.set('heartbeat', String(this.#heartbeat));
    }
    const connection = await connect(target.toString(), {
      timeout: this.#connectTimeoutMs,
      clientProperties: { connection_name: this.#connectionName },
    });
    try {
      connection.on('error', (err: Error) => {
        this.#logger?.warn({ err: describe(err) }, 'bus: connection error');
      });
      connection.on('blocked', (reason: string) => {
        this.#logger?.warn({ reason }, 'bus: the broker blocked publishing (resource alarm)');
      });
      connection.on('unblocked', () => {
        this.#logger?.info('bus: the broker unblocked publishing');
      });
      const setup = await connection.createChannel();
      setup.on('error', () => undefined);
      await assertTopology(
        setup,
        mergeTopologies(this.#topology, ...[...this.#subscriptions].map((s) => s.topology)),
      );
      await setup.close();
      const publisher = await connection.createConfirmChannel();
      if (this.#state !== 'connecting') throw new BusClosedError('closed while connecting');
      const generation = ++this.#generation;
      this.#wirePublisher(publisher, generation);
      this.#connection = connection;
      this.#publisher = publisher;
      this.#writable = true;
      connection.on('close', () => {
        this.#onConnectionLost(generation, 'connection closed');
      });
      for (const sub of this.#subscriptions) {
        if (!sub.cancelled) await this.#openConsumer(sub, connection, generation);
      }
    } catch (error) {
      this.#connection = undefined;
      this.#publisher = undefined;
      await connection.close().catch(() => undefined);
      throw error;
    }
    this.#state = 'connected';
    this.#metrics.connected.set(1);
    if (this.#generation > 1) this.#metrics.reconnects.inc();
    this.#logger?.info(
      { url: redactUri(url), generation: this.#generation, buffered: this.#buffer.length },
      'bus: connected',
    );
    this.#emitter.emit('connected', { url: redactUri(url), generation: this.#generation });
    this.#flush();
  }

  #wirePublisher(channel: ConfirmChannel, generation: number): void {
    channel.on('error', (err: Error) => {
      const missing = noExchangePattern.exec(err.message);
      this.#missingExchange = missing?.[1];
      this.#logger?.warn({ err: describe(err) }, 'bus: publish channel error');
    });
    channel.on('return', (message: Message) => {
      const id = message.properties.messageId as unknown;
      if (typeof id !== 'string') return;
      const pending = this.#inFlight.get(id);
      if (pending !== undefined) {
        const fields = message.fields as unknown as { replyText?: string };
        pending.returned = fields.replyText ?? 'NO_ROUTE';
      }
    });
    channel.on('drain', () => {
      if (this.#publisher !== channel) return;
      this.#writable = true;
      this.#flush();
    });
    channel.on('close', () => {
      // amqplib has already failed every unconfirmed publish (its own listener runs first); put
      // them back at the front of the buffer, in their original order.
      const orphans = this.#orphans;
      this.#orphans = [];
      for (const pending of orphans.reverse()) {
        this.#buffer.unshift(pending, pending.content.length);
      }
      this.#metrics.buffered.set(this.#buffer.length);
      this.#missingExchange = undefined;
      if (this.#publisher === channel) this.#onConnectionLost(generation, 'publish channel closed');
    });
  }

  /**
   * A lost connection or channel: everything from this generation is stale. Any channel error
   * resets the whole connection, so there is one recovery path (reconnect, redeclare, resubscribe).
   */
  #onConnectionLost(generation: number, reason: string): void {
    if (generation !== this.#generation || this.#state !== 'connected') return;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#publisher = undefined;
    for (const sub of this.#subscriptions) {
      sub.channel = undefined;
      sub.consumerTag = undefined;
    }
    this.#state = 'connecting';
    this.#metrics.connected.set(0);
    this.#logger?.warn({ reason, generation }, 'bus: disconnected; reconnecting');
    this.#emitter.emit('disconnected', { reason });
    if (connection !== undefined) {
      connection.close().catch(() => undefined);
    }
    this.#loop = this.#connectLoop(false).catch((error: unknown) => {
      this.#logger?.error({ err: error }, 'bus: reconnect loop failed');
    });
  }

  // ---- publishing -----------------------------------------------------------------------------

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: PublishOptions = {},
  ): Promise<PublishReceipt> {
    if (this.#state === 'closing' || this.#state === 'closed') {
      return Promise.reject(new BusClosedError());
    }
    return new Promise<PublishReceipt>((resolve, reject) => {
      const pending: PendingPublish = {
        exchange,
        routingKey,
        content,
        options: toAmqpOptions(options),
        resolve,
        reject,
        returned: undefined,
        requeues: 0,
      };
      this.#enqueue(pending);
    });
  }

  #enqueue(pending: PendingPublish): void {
    if (this.#canSend() && this.#buffer.length === 0) {
      this.#send(pending);
      return;
    }
    if (!this.#buffer.push(pending, pending.content.length)) {
      pending.reject(
        new BusBufferFullError({
          messages: this.#buffer.limits.maxMessages,
          bytes: this.#buffer.limits.maxBytes,
        }),
      );
      return;
    }
    this.#metrics.buffered.set(this.#buffer.length);
  }

  #canSend(): boolean {
    return this.#publisher !== undefined && this.#state !== 'connecting' && this.#writable;
  }

  #flush(): void {
    while (this.#canSend()) {
      const next = this.#buffer.shift();
      if (next === undefined) break;
      this.#send(next);
    }
    this.#metrics.buffered.set(this.#buffer.length);
    this.#checkIdle();
  }

  #send(pending: PendingPublish): void {
    const channel = this.#publisher;
    if (channel === undefined) {
      this.#buffer.unshift(pending, pending.content.length);
      return;
    }
    const id = pending.options.messageId;
    this.#inFlight.set(id, pending);
    try {
      const ok = channel.publish(
        pending.exchange,
        pending.routingKey,
        pending.content,
        pending.options,
        (err: unknown) => {
          this.#onConfirm(pending, err);
        },
      );
      this.#perExchange(pending.exchange).published.inc();
      if (!ok) this.#writable = false;
    } catch (error) {
      this.#inFlight.delete(id);
      // A channel closing under us: amqplib throws synchronously; wait for the reconnect.
      if (error instanceof RangeError) pending.reject(error);
      else this.#orphans.push(pending);
    }
  }

  #onConfirm(pending: PendingPublish, err: unknown): void {
    const id = pending.options.messageId;
    if (this.#inFlight.get(id) === pending) this.#inFlight.delete(id);
    const exchange = pending.exchange;
    if (err === null || err === undefined) {
      if (pending.returned !== undefined) {
        this.#metrics.returned.inc({ exchange });
        pending.reject(new BusUnroutableError(exchange, pending.routingKey, pending.returned));
      } else {
        this.#perExchange(exchange).confirmed.inc();
        pending.resolve({ messageId: id });
      }
    } else if (err instanceof Error && err.message === 'message nacked') {
      this.#metrics.nacked.inc({ exchange });
      pending.reject(new BusNackedError(exchange, pending.routingKey, { cause: err }));
    } else if (this.#missingExchange !== undefined && this.#missingExchange === exchange) {
      pending.reject(new BusTopologyError(`exchange ${JSON.stringify(exchange)} does not exist`));
    } else if (this.#state === 'closed') {
      pending.reject(new BusClosedError('the bus was destroyed before the broker confirmed'));
    } else if (++pending.requeues > maxRequeues) {
      pending.reject(
        new BusUnavailableError(`publish lost its channel ${maxRequeues} times; giving up`, {
          cause: err,
        }),
      );
    } else {
      // The channel died before the confirm: send it again after the reconnect (at least once).
      pending.returned = undefined;
      this.#orphans.push(pending);
    }
    this.#checkIdle();
  }

  async publishEvent<N extends EventName>(
    name: N,
    payload: unknown,
    options: Pick<PublishOptions, 'messageId' | 'headers' | 'mandatory'> = {},
  ): Promise<EventEnvelope<N>> {
    if (!isEventName(name)) throw new BusInvalidEventError(`unknown event ${JSON.stringify(name)}`);
    const checked = checkEvent(name, payload);
    if (!checked.ok) throw new BusInvalidEventError(checked.reason);
    const envelope: EventEnvelope<N> = {
      name,
      id: options.messageId ?? randomUUID(),
      time: new Date().toISOString(),
      source: this.#source,
      payload: checked.value,
    };
    await this.publish(this.#exchange, name, Buffer.from(JSON.stringify(envelope)), {
      ...options,
      messageId: envelope.id,
      type: name,
      contentType: 'application/json',
    });
    return envelope;
  }

  // ---- consuming ------------------------------------------------------------------------------

  async subscribe<N extends EventName>(
    queue: string,
    names: readonly N[],
    handler: EventHandler<N>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.#state === 'closing' || this.#state === 'closed') throw new BusClosedError();
    if (names.length === 0) throw new BusInvalidArgumentError('subscribe: no event names');
    for (const name of names) {
      if (!isEventName(name)) {
        throw new BusInvalidArgumentError(
          `subscribe: unknown event ${JSON.stringify(name)}; known: ${eventNames.join(', ')}`,
        );
      }
    }
    const prefetch = positive('prefetch', options.prefetch ?? this.#prefetch);
    const sub: SubscriptionState = {
      queue,
      names: new Set(names),
      handler: handler as EventHandler<EventName>,
      prefetch,
      concurrency: Math.min(prefetch, positive('concurrency', options.concurrency ?? prefetch)),
      maxAttempts: positive('maxAttempts', options.maxAttempts ?? this.#maxAttempts),
      topology:
        options.declare === false
          ? emptyTopology
          : consumerQueueTopology(queue, {
              exchange: this.#exchange,
              routingKeys: names,
              ...(options.messageTtlMs === undefined ? {} : { messageTtlMs: options.messageTtlMs }),
              ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
            }),
      channel: undefined,
      consumerTag: undefined,
      generation: 0,
      cancelled: false,
      active: 0,
      drained: [],
      running: 0,
      waiting: [],
      consumed: this.#metrics.consumed.labels({ queue }),
      acked: this.#metrics.acked.labels({ queue }),
    };
    this.#subscriptions.add(sub);
    const connection = this.#connection;
    if (this.#state === 'connected' && connection !== undefined) {
      try {
        const setup = await connection.createChannel();
        setup.on('error', () => undefined);
        await assertTopology(setup, sub.topology);
        await setup.close();
        await this.#openConsumer(sub, connection, this.#generation);
      } catch (error) {
        this.#subscriptions.delete(sub);
        throw error;
      }
    }
    return {
      queue,
      cancel: async () => {
        await this.#stopConsumer(sub);
        this.#subscriptions.delete(sub);
      },
    };
  }

  async #openConsumer(
    sub: SubscriptionState,
    connection: ChannelModel,
    generation: number,
  ): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', (err: Error) => {
      this.#logger?.warn({ err: describe(err), queue: sub.queue }, 'bus: consumer channel error');
    });
    channel.on('close', () => {
      if (sub.channel !== channel) return;
      sub.channel = undefined;
      if (!sub.cancelled) this.#onConnectionLost(generation, `consumer channel of ${sub.queue}`);
    });
    await channel.prefetch(sub.prefetch);
    sub.channel = channel;
    sub.generation = generation;
    const reply = await channel.consume(sub.queue, (message) => {
      if (message === null) {
        // The broker cancelled the consumer (queue deleted): resubscribe on the next connection.
        this.#logger?.warn({ queue: sub.queue }, 'bus: the broker cancelled the consumer');
        if (sub.channel === channel) {
          sub.channel = undefined;
          channel.close().catch(() => undefined);
        }
        return;
      }
      // Stopping: leave it unacked; the broker requeues it when the channel closes.
      if (sub.cancelled) return;
      sub.active++;
      void this.#deliver(sub, channel, message);
    });
    sub.consumerTag = reply.consumerTag;
  }

  /**
   * Stops a consumer: new deliveries are left unacked (the broker requeues them when the channel
   * closes), handlers in progress finish and ack, then the channel closes. Not `basic.cancel`
   * first: a quorum queue (RabbitMQ 3.10) drops acks for a cancelled consumer's deliveries, so a
   * drained handler's ack would be lost and the message redelivered.
   */
  async #stopConsumer(sub: SubscriptionState): Promise<void> {
    sub.cancelled = true;
    if (sub.active > 0) await new Promise<void>((resolve) => sub.drained.push(resolve));
    const channel = sub.channel;
    sub.channel = undefined;
    sub.consumerTag = undefined;
    if (channel === undefined) return;
    try {
      await channel.close();
    } catch (error) {
      this.#logger?.debug({ err: describe(error), queue: sub.queue }, 'bus: channel close failed');
    }
  }

  async #acquire(sub: SubscriptionState): Promise<void> {
    await new Promise<void>((resolve) => sub.waiting.push(resolve));
    sub.running++;
  }

  #release(sub: SubscriptionState): void {
    sub.running--;
    sub.waiting.shift()?.();
  }

  /** Handles one delivery; never rejects (the consumer must survive anything a message does). */
  async #deliver(sub: SubscriptionState, channel: Channel, message: ConsumeMessage): Promise<void> {
    try {
      await this.#handle(sub, channel, message);
    } catch (error) {
      this.#logger?.error({ err: error, queue: sub.queue }, 'bus: delivery failed');
    } finally {
      if (--sub.active === 0) for (const wake of sub.drained.splice(0)) wake();
      this.#checkIdle();
    }
  }

  async #handle(sub: SubscriptionState, channel: Channel, message: ConsumeMessage): Promise<void> {
    const queue = sub.queue;
    sub.consumed.inc();
    const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
    const parsed = parseEnvelope(message.content, sub.names);
    if (!parsed.ok) {
      await this.#deadLetter(sub, channel, message, 'invalid', parsed.reason, 0);
      return;
    }
    // The fast path stays synchronous: no extra await per message when a slot is free.
    if (sub.running < sub.concurrency) sub.running++;
    else await this.#acquire(sub);
    try {
      const attempt = onHandlerFailure(headers, Number.MAX_SAFE_INTEGER).attempts;
      await sub.handler(parsed.value, {
        queue,
        attempt,
        redelivered: message.fields.redelivered,
        headers,
      });
    } catch (error) {
      this.#release(sub);
      const reason = truncateReason(describe(error));
      const next = onHandlerFailure(headers, sub.maxAttempts);
      if (next.action === 'dead-letter') {
        await this.#deadLetter(sub, channel, message, 'failed', reason, next.attempts);
      } else {
        await this.#retry(sub, channel, message, next.attempts, reason);
      }
      return;
    }
    this.#release(sub);
    if (this.#settle(sub, channel, message)) sub.acked.inc();
  }

  /** Acks when the delivery's channel is still the live one; otherwise the broker redelivers. */
  #settle(sub: SubscriptionState, channel: Channel, message: ConsumeMessage): boolean {
    if (sub.channel !== channel) {
      this.#metrics.staleAcks.inc({ queue: sub.queue });
      return false;
    }
    try {
      channel.ack(message);
      return true;
    } catch {
      this.#metrics.staleAcks.inc({ queue: sub.queue });
      return false;
    }
  }

  /**
   * Gives a delivery back to the broker when its retry or dead-letter copy could not be published
   * on a live channel (a nack, say), so it does not sit unacked; on a dead channel the broker has
   * requeued it already.
   */
  #requeue(sub: SubscriptionState, channel: Channel, message: ConsumeMessage): void {
    if (sub.channel !== channel) return;
    try {
      channel.nack(message, false, true);
    } catch {
      this.#metrics.staleAcks.inc({ queue: sub.queue });
    }
  }

  /** Republishes (confirmed, straight to the queue) with the attempt count, then acks. */
  async #retry(
    sub: SubscriptionState,
    channel: Channel,
    message: ConsumeMessage,
    attempts: number,
    reason: string,
  ): Promise<void> {
    try {
      await this.#publishNow('', sub.queue, message, {
        [attemptsHeader]: attempts,
        'x-swb-last-error': reason,
      });
    } catch (error) {
      this.#logger?.warn(
        { err: describe(error), queue: sub.queue },
        'bus: retry republish failed; requeueing the delivery',
      );
      this.#requeue(sub, channel, message);
      return;
    }
    if (this.#settle(sub, channel, message)) this.#metrics.retried.inc({ queue: sub.queue });
  }

  async #deadLetter(
    sub: SubscriptionState,
    channel: Channel,
    message: ConsumeMessage,
    kind: 'invalid' | 'failed',
    reason: string,
    attempts: number,
  ): Promise<void> {
    this.#logger?.warn(
      { queue: sub.queue, kind, reason, messageId: message.properties.messageId as unknown },
      'bus: dead-lettering a message',
    );
    try {
      await this.#publishNow(deadLetterExchangeOf(sub.queue), message.fields.routingKey, message, {
        [deadKindHeader]: kind,
        [deadReasonHeader]: truncateReason(reason),
        [deadQueueHeader]: sub.queue,
        ...(attempts > 0 ? { [attemptsHeader]: attempts } : {}),
      });
    } catch (error) {
      this.#logger?.warn(
        { err: describe(error), queue: sub.queue },
        'bus: dead-letter publish failed; requeueing the delivery',
      );
      this.#requeue(sub, channel, message);
      return;
    }
    if (this.#settle(sub, channel, message)) {
      this.#metrics.deadLettered.inc({ queue: sub.queue, kind });
    }
  }

  /**
   * Publishes a copy of a delivery now, on the live channel, without the buffer: when there is no
   * connection the original delivery is not acked and comes back anyway.
   */
  #publishNow(
    exchange: string,
    routingKey: string,
    message: ConsumeMessage,
    extraHeaders: Record<string, unknown>,
  ): Promise<PublishReceipt> {
    // Backpressure does not hold these back: amqplib buffers them, and waiting would keep the
    // original delivery unacked.
    if (this.#publisher === undefined || this.#state !== 'connected') {
      return Promise.reject(new BusUnavailableError('not connected'));
    }
    const props = message.properties;
    return new Promise<PublishReceipt>((resolve, reject) => {
      const options = toAmqpOptions({
        messageId: typeof props.messageId === 'string' ? props.messageId : randomUUID(),
        headers: { ...(props.headers ?? {}), ...extraHeaders },
        ...(typeof props.contentType === 'string' ? { contentType: props.contentType } : {}),
        ...(typeof props.type === 'string' ? { type: props.type } : {}),
      });
      const pending: PendingPublish = {
        exchange,
        routingKey,
        content: message.content,
        options,
        resolve,
        // Never requeued: a lost channel fails it, and the original is redelivered instead.
        reject,
        returned: undefined,
        requeues: maxRequeues,
      };
      this.#send(pending);
    });
  }

  // ---- closing --------------------------------------------------------------------------------

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#idle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  #idle(): boolean {
    if (this.#inFlight.size > 0) return false;
    if (this.#buffer.length > 0 && this.#state === 'connected') return false;
    for (const sub of this.#subscriptions) if (sub.active > 0) return false;
    return true;
  }

  async #close(): Promise<void> {
    for (const sub of this.#subscriptions) sub.cancelled = true;
    if (!this.#idle()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.#state = 'closing';
    await Promise.all([...this.#subscriptions].map((sub) => this.#stopConsumer(sub)));
    await this.#shutdown(new BusClosedError('the bus closed before the message was sent'));
  }

  async #destroy(): Promise<void> {
    this.#state = 'closing';
    await this.#shutdown(new BusClosedError('the bus was destroyed'));
  }

  async #shutdown(reason: BusClosedError): Promise<void> {
    this.#state = 'closed';
    clearTimeout(this.#reconnectTimer);
    this.#wakeReconnect?.();
    for (const pending of this.#buffer.drain()) pending.reject(reason);
    for (const pending of this.#orphans) pending.reject(reason);
    this.#orphans = [];
    this.#metrics.buffered.set(0);
    this.#metrics.connected.set(0);
    const connection = this.#connection;
    this.#connection = undefined;
    this.#publisher = undefined;
    if (connection !== undefined) {
      try {
        await connection.close();
      } catch (error) {
        this.#logger?.debug({ err: describe(error) }, 'bus: closing the connection failed');
      }
    }
    for (const pending of this.#inFlight.values()) pending.reject(reason);
    this.#inFlight.clear();
    await this.#loop?.catch(() => undefined);
    this.#checkIdle();
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new BusInvalidArgumentError(`bus: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function toAmqpOptions(options: PublishOptions): Options.Publish & { messageId: string } {
  return {
    messageId: options.messageId ?? randomUUID(),
    persistent: options.persistent ?? true,
    mandatory: options.mandatory ?? true,
    timestamp: Math.floor(Date.now() / 1000),
    ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
    ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.expirationMs === undefined ? {} : { expiration: String(options.expirationMs) }),
    ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
  };
}

function describe(error: unknown): string {
  return redactCredentials(error instanceof Error ? error.message : String(error));
}

type Parsed =
  | { readonly ok: true; readonly value: EventEnvelope }
  | { readonly ok: false; readonly reason: string };

/**
 * Reads and checks an envelope (pure). Refuses: bytes that are not JSON, an envelope without a
 * name, id or payload, an event name the catalogue does not know or the subscription did not ask
 * for, and a payload that fails its schema.
 */
export function parseEnvelope(content: Buffer, accepted: ReadonlySet<string>): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${describe(error)}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'not an event envelope (expected a JSON object)' };
  }
  const envelope = raw as Record<string, unknown>;
  const name = envelope.name;
  if (typeof name !== 'string') return { ok: false, reason: 'envelope has no event name' };
  if (!isEventName(name)) return { ok: false, reason: `unknown event ${JSON.stringify(name)}` };
  if (!accepted.has(name)) {
    return { ok: false, reason: `event ${name} is not one this queue consumes` };
  }
  if (typeof envelope.id !== 'string' || envelope.id === '') {
    return { ok: false, reason: 'envelope has no id' };
  }
  const checked = checkEvent(name, envelope.payload);
  if (!checked.ok) return { ok: false, reason: `schema: ${checked.reason}` };
  return {
    ok: true,
    value: {
      name,
      id: envelope.id,
      time: typeof envelope.time === 'string' ? envelope.time : '',
      source: typeof envelope.source === 'string' ? envelope.source : '',
      payload: checked.value,
    },
  };
}
