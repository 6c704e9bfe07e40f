import type { Logger } from '@switchboard/runtime';
import type { ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { BoundedBuffer, type BufferLimits } from './buffer.js';
import type { BusState, PublishOptions, PublishReceipt } from './bus-types.js';
import { copyOptionsOf, toAmqpOptions, type AmqpPublishOptions } from './envelope.js';
import {
  BusBufferFullError,
  BusClosedError,
  BusNackedError,
  BusTopologyError,
  BusUnavailableError,
  BusUnroutableError,
  describeError,
} from './errors.js';
import type { BoundCounter, BusMetrics } from './metrics.js';

interface PendingPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: AmqpPublishOptions;
  readonly resolve: (receipt: PublishReceipt) => void;
  readonly reject: (error: unknown) => void;
  returned: string | undefined;
  requeues: number;
}

const maxRequeues = 10;
const noExchangePattern = /no exchange '([^']*)'/;

export interface PublisherDeps {
  /** Bounds of the buffer that holds publishes while there is no connection. */
  readonly limits: BufferLimits;
  readonly metrics: BusMetrics;
  readonly logger: Logger | undefined;
  /** The bus's state: nothing is sent while it reconnects; a closed bus fails what is lost. */
  readonly state: () => BusState;
  /** The confirm channel of `generation` closed: the bus resets the connection. */
  readonly onChannelLost: (generation: number, reason: string) => void;
  /** A publish settled or the buffer emptied: the bus may be idle now (`close()` waits for it). */
  readonly onProgress: () => void;
}

/**
 * The publishing half of the bus: the confirm channel of the current connection, the bounded
 * buffer of publishes waiting for one, the publishes waiting for their confirm, and the orphans
 * (publishes whose channel died before the confirm) that go back to the front of the buffer to be
 * sent again after the reconnect. The bus attaches each new confirm channel and detaches it when
 * the connection is lost.
 */
export class Publisher {
  readonly #metrics: BusMetrics;
  readonly #logger: Logger | undefined;
  readonly #state: () => BusState;
  readonly #onChannelLost: (generation: number, reason: string) => void;
  readonly #onProgress: () => void;
  readonly #buffer: BoundedBuffer<PendingPublish>;
  readonly #inFlight = new Map<string, PendingPublish>();
  /** Labelled children cached: prom-client hashes the labels on every `inc({ … })`. */
  readonly #exchangeMetrics = new Map<
    string,
    { published: BoundCounter; confirmed: BoundCounter }
  >();

  #channel: ConfirmChannel | undefined;
  #writable = true;
  #orphans: PendingPublish[] = [];
  #missingExchange: string | undefined;

  constructor(deps: PublisherDeps) {
    this.#buffer = new BoundedBuffer(deps.limits);
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
    this.#state = deps.state;
    this.#onChannelLost = deps.onChannelLost;
    this.#onProgress = deps.onProgress;
  }

  /** Publishes waiting for a connection. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Whether a confirm channel is attached. */
  get attached(): boolean {
    return this.#channel !== undefined;
  }

  /** Publishes on `channel` (of connection `generation`) from now on. */
  attach(channel: ConfirmChannel, generation: number): void {
    this.#wire(channel, generation);
    this.#channel = channel;
    this.#writable = true;
  }

  /** The connection is gone: publishes wait in the buffer until the next `attach()`. */
  detach(): void {
    this.#channel = undefined;
  }

  /** No publish waits for its confirm, nor in the buffer while it could be sent. */
  idle(): boolean {
    if (this.#inFlight.size > 0) return false;
    if (this.#buffer.length > 0 && this.#state() === 'connected') return false;
    return true;
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

  #wire(channel: ConfirmChannel, generation: number): void {
    channel.on('error', (err: Error) => {
      const missing = noExchangePattern.exec(err.message);
      this.#missingExchange = missing?.[1];
      this.#logger?.warn({ err: describeError(err) }, 'bus: publish channel error');
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
      if (this.#channel !== channel) return;
      this.#writable = true;
      this.flush();
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
      if (this.#channel === channel) this.#onChannelLost(generation, 'publish channel closed');
    });
  }

  /** Sends now when it can, else buffers; resolves once the broker confirmed. */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: PublishOptions,
  ): Promise<PublishReceipt> {
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
    return this.#channel !== undefined && this.#state() !== 'connecting' && this.#writable;
  }

  /** Sends what the buffer holds, as far as the channel takes it. */
  flush(): void {
    while (this.#canSend()) {
      const next = this.#buffer.shift();
      if (next === undefined) break;
      this.#send(next);
    }
    this.#metrics.buffered.set(this.#buffer.length);
    this.#onProgress();
  }

  #send(pending: PendingPublish): void {
    const channel = this.#channel;
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
    } else if (this.#state() === 'closed') {
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
    this.#onProgress();
  }

  /**
   * Publishes a copy of a delivery now, on the live channel, without the buffer: when there is no
   * connection the original delivery is not acked and comes back anyway.
   */
  publishCopy(
    exchange: string,
    routingKey: string,
    message: ConsumeMessage,
    extraHeaders: Record<string, unknown>,
  ): Promise<PublishReceipt> {
    // Backpressure does not hold these back: amqplib buffers them, and waiting would keep the
    // original delivery unacked.
    if (this.#channel === undefined || this.#state() !== 'connected') {
      return Promise.reject(new BusUnavailableError('not connected'));
    }
    return new Promise<PublishReceipt>((resolve, reject) => {
      const pending: PendingPublish = {
        exchange,
        routingKey,
        content: message.content,
        options: copyOptionsOf(message, extraHeaders),
        resolve,
        // Never requeued: a lost channel fails it, and the original is redelivered instead.
        reject,
        returned: undefined,
        requeues: maxRequeues,
      };
      this.#send(pending);
    });
  }

  /** Closing: fails every publish that waits for a connection (buffered or orphaned). */
  failQueued(reason: BusClosedError): void {
    for (const pending of this.#buffer.drain()) pending.reject(reason);
    for (const pending of this.#orphans) pending.reject(reason);
    this.#orphans = [];
    this.#metrics.buffered.set(0);
  }

  /** Closed: fails every publish still waiting for its confirm. */
  failInFlight(reason: BusClosedError): void {
    for (const pending of this.#inFlight.values()) pending.reject(reason);
    this.#inFlight.clear();
  }
}
