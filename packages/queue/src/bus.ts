import { EventEmitter } from 'node:events';
import { defineComponent, redactUri, type Logger } from '@switchboard/runtime';
import { connect, type ChannelModel } from 'amqplib';
import type {
  Bus,
  BusDeps,
  BusEvents,
  BusOptions,
  BusState,
  EventHandler,
  PublishOptions,
  PublishReceipt,
  SubscribeOptions,
  Subscription,
} from './bus-types.js';
import type { EventEnvelope, EventName } from './catalogue/events.js';
import { Consumers } from './consumer.js';
import { createEnvelope, serialiseEnvelope } from './envelope.js';
import {
  BusClosedError,
  BusInvalidArgumentError,
  BusTopologyError,
  BusUnavailableError,
  describeError,
  positiveInteger,
} from './errors.js';
import { createBusMetrics, type BusMetrics } from './metrics.js';
import { Publisher } from './publisher.js';
import { backoffDelay } from './retry.js';
import {
  assertTopology,
  defaultEventExchange,
  emptyTopology,
  mergeTopologies,
  type Topology,
} from './topology.js';

export function createBus(options: BusOptions, deps: BusDeps = {}): Bus {
  return new AmqpBus(options, deps);
}

/**
 * The bus owns the connection (the reconnect loop across `urls`, topology on every connect, the
 * generation that makes a lost connection's channels stale), the lifecycle and the events; it
 * composes a `Publisher` (confirm channel, buffer, confirms) and `Consumers` (one channel per
 * subscription, deliveries, retries, dead letters), attaching both to each new connection.
 */
class AmqpBus implements Bus {
  readonly #urls: readonly string[];
  readonly #source: string;
  readonly #exchange: string;
  readonly #topology: Topology;
  readonly #heartbeat: number;
  readonly #connectTimeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #startTimeoutMs: number;
  readonly #drainTimeoutMs: number;
  readonly #connectionName: string;
  readonly #logger: Logger | undefined;
  readonly #metrics: BusMetrics;
  readonly #random: () => number;
  readonly #emitter = new EventEmitter();
  readonly #publisher: Publisher;
  readonly #consumers: Consumers;
  readonly #lifecycle;

  #state: BusState = 'idle';
  #connection: ChannelModel | undefined;
  #generation = 0;
  #urlIndex = 0;
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
    const prefetch = positiveInteger('prefetch', options.prefetch ?? 32);
    const maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? 5);
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
    this.#connectionName = options.connectionName ?? options.source;
    const limits = {
      maxMessages: positiveInteger('buffer.maxMessages', options.buffer?.maxMessages ?? 10_000),
      maxBytes: positiveInteger('buffer.maxBytes', options.buffer?.maxBytes ?? 16 * 1024 * 1024),
    };
    this.#logger = deps.logger?.child({ component: 'bus' });
    this.#metrics = createBusMetrics(deps.registry);
    this.#random = deps.random ?? Math.random;
    const onChannelLost = (generation: number, reason: string): void => {
      this.#onConnectionLost(generation, reason);
    };
    const onProgress = (): void => {
      this.#checkIdle();
    };
    this.#publisher = new Publisher({
      limits,
      metrics: this.#metrics,
      logger: this.#logger,
      state: () => this.#state,
      onChannelLost,
      onProgress,
    });
    this.#consumers = new Consumers({
      exchange: this.#exchange,
      prefetch,
      maxAttempts,
      metrics: this.#metrics,
      logger: this.#logger,
      generation: () => this.#generation,
      publishCopy: (exchange, routingKey, message, extraHeaders) =>
        this.#publisher.publishCopy(exchange, routingKey, message, extraHeaders),
      onChannelLost,
      onProgress,
    });
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
    return this.#publisher.buffered;
  }

  isConnected(): boolean {
    return this.#state === 'connected' && this.#publisher.attached;
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

  /** A method, not a field test, so the compiler does not narrow it across awaits. */
  #stopping(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  // ---- publishing and consuming -----------------------------------------------------------------

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: PublishOptions = {},
  ): Promise<PublishReceipt> {
    if (this.#stopping()) return Promise.reject(new BusClosedError());
    return this.#publisher.publish(exchange, routingKey, content, options);
  }

  async publishEvent<N extends EventName>(
    name: N,
    payload: unknown,
    options: Pick<PublishOptions, 'messageId' | 'headers' | 'mandatory'> = {},
  ): Promise<EventEnvelope<N>> {
    const envelope = createEnvelope(name, payload, this.#source, options.messageId);
    await this.publish(this.#exchange, name, serialiseEnvelope(envelope), {
      ...options,
      messageId: envelope.id,
      type: name,
      contentType: 'application/json',
    });
    return envelope;
  }

  async subscribe<N extends EventName>(
    queue: string,
    names: readonly N[],
    handler: EventHandler<N>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.#stopping()) throw new BusClosedError();
    const live = this.#state === 'connected' ? this.#connection : undefined;
    return this.#consumers.subscribe(queue, names, handler, options, live);
  }

  // ---- connection -------------------------------------------------------------------------------

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
          { url: redactUri(url), attempt, delayMs: delay, err: describeError(error) },
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
        this.#logger?.warn({ err: describeError(err) }, 'bus: connection error');
      });
      connection.on('blocked', (reason: string) => {
        this.#logger?.warn({ reason }, 'bus: the broker blocked publishing (resource alarm)');
      });
      connection.on('unblocked', () => {
        this.#logger?.info('bus: the broker unblocked publishing');
      });
      const setup = await connection.createChannel();
      setup.on('error', () => undefined);
      await assertTopology(setup, mergeTopologies(this.#topology, ...this.#consumers.topologies()));
      await setup.close();
      const publisher = await connection.createConfirmChannel();
      if (this.#state !== 'connecting') throw new BusClosedError('closed while connecting');
      const generation = ++this.#generation;
      this.#publisher.attach(publisher, generation);
      this.#connection = connection;
      connection.on('close', () => {
        this.#onConnectionLost(generation, 'connection closed');
      });
      await this.#consumers.openAll(connection, generation);
    } catch (error) {
      this.#connection = undefined;
      this.#publisher.detach();
      await connection.close().catch(() => undefined);
      throw error;
    }
    this.#state = 'connected';
    this.#metrics.connected.set(1);
    if (this.#generation > 1) this.#metrics.reconnects.inc();
    this.#logger?.info(
      { url: redactUri(url), generation: this.#generation, buffered: this.#publisher.buffered },
      'bus: connected',
    );
    this.#emitter.emit('connected', { url: redactUri(url), generation: this.#generation });
    this.#publisher.flush();
  }

  /**
   * A lost connection or channel: everything from this generation is stale. Any channel error
   * resets the whole connection, so there is one recovery path (reconnect, redeclare, resubscribe).
   */
  #onConnectionLost(generation: number, reason: string): void {
    if (generation !== this.#generation || this.#state !== 'connected') return;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#publisher.detach();
    this.#consumers.detachAll();
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

  // ---- closing ----------------------------------------------------------------------------------

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#idle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  #idle(): boolean {
    return this.#publisher.idle() && this.#consumers.idle();
  }

  async #close(): Promise<void> {
    this.#consumers.cancelAll();
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
    await this.#consumers.stopAll();
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
    this.#publisher.failQueued(reason);
    this.#metrics.connected.set(0);
    const connection = this.#connection;
    this.#connection = undefined;
    this.#publisher.detach();
    if (connection !== undefined) {
      try {
        await connection.close();
      } catch (error) {
        this.#logger?.debug({ err: describeError(error) }, 'bus: closing the connection failed');
      }
    }
    this.#publisher.failInFlight(reason);
    await this.#loop?.catch(() => undefined);
    this.#checkIdle();
  }
}
