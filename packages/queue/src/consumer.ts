import type { Logger } from '@switchboard/runtime';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { EventHandler, PublishReceipt, SubscribeOptions, Subscription } from './bus-types.js';
import { eventNames, isEventName, type EventName } from './catalogue/events.js';
import { parseEnvelope } from './envelope.js';
import { BusInvalidArgumentError, describeError, positiveInteger } from './errors.js';
import type { BoundCounter, BusMetrics } from './metrics.js';
import {
  attemptsHeader,
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
  emptyTopology,
  type Topology,
} from './topology.js';

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

export interface ConsumersDeps {
  /** The events exchange a subscription's queue is bound to. */
  readonly exchange: string;
  /** Defaults of a subscription's `prefetch` and `maxAttempts`. */
  readonly prefetch: number;
  readonly maxAttempts: number;
  readonly metrics: BusMetrics;
  readonly logger: Logger | undefined;
  /** The generation of the bus's current connection. */
  readonly generation: () => number;
  /** Publishes a copy of a delivery on the live confirm channel (a retry, a dead letter). */
  readonly publishCopy: (
    exchange: string,
    routingKey: string,
    message: ConsumeMessage,
    extraHeaders: Record<string, unknown>,
  ) => Promise<PublishReceipt>;
  /** A consumer channel of `generation` closed: the bus resets the connection. */
  readonly onChannelLost: (generation: number, reason: string) => void;
  /** A delivery finished: the bus may be idle now (`close()` waits for it). */
  readonly onProgress: () => void;
}

/**
 * The consuming half of the bus: one channel per subscription, opened again on every connection.
 * Each delivery is parsed, handed to the handler within the subscription's concurrency, then
 * acked, republished for a retry or dead-lettered; an ack only goes to the channel the delivery
 * came on, so a delivery of a lost connection is left for the broker to redeliver.
 */
export class Consumers {
  readonly #exchange: string;
  readonly #prefetch: number;
  readonly #maxAttempts: number;
  readonly #metrics: BusMetrics;
  readonly #logger: Logger | undefined;
  readonly #generation: () => number;
  readonly #publishCopy: ConsumersDeps['publishCopy'];
  readonly #onChannelLost: (generation: number, reason: string) => void;
  readonly #onProgress: () => void;
  readonly #subscriptions = new Set<SubscriptionState>();

  constructor(deps: ConsumersDeps) {
    this.#exchange = deps.exchange;
    this.#prefetch = deps.prefetch;
    this.#maxAttempts = deps.maxAttempts;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
    this.#generation = deps.generation;
    this.#publishCopy = deps.publishCopy;
    this.#onChannelLost = deps.onChannelLost;
    this.#onProgress = deps.onProgress;
  }

  /** The queue topologies of the subscriptions, declared on every connect. */
  topologies(): Topology[] {
    return [...this.#subscriptions].map((s) => s.topology);
  }

  /** No delivery is being handled. */
  idle(): boolean {
    for (const sub of this.#subscriptions) if (sub.active > 0) return false;
    return true;
  }

  /**
   * Adds a subscription; on `connection` (the live one, if the bus is connected) declares its
   * topology and starts consuming at once, else the next connect does.
   */
  async subscribe<N extends EventName>(
    queue: string,
    names: readonly N[],
    handler: EventHandler<N>,
    options: SubscribeOptions,
    connection: ChannelModel | undefined,
  ): Promise<Subscription> {
    if (names.length === 0) throw new BusInvalidArgumentError('subscribe: no event names');
    for (const name of names) {
      if (!isEventName(name)) {
        throw new BusInvalidArgumentError(
          `subscribe: unknown event ${JSON.stringify(name)}; known: ${eventNames.join(', ')}`,
        );
      }
    }
    const prefetch = positiveInteger('prefetch', options.prefetch ?? this.#prefetch);
    const sub: SubscriptionState = {
      queue,
      names: new Set(names),
      handler: handler as EventHandler<EventName>,
      prefetch,
      concurrency: Math.min(
        prefetch,
        positiveInteger('concurrency', options.concurrency ?? prefetch),
      ),
      maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? this.#maxAttempts),
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
    if (connection !== undefined) {
      try {
        const setup = await connection.createChannel();
        setup.on('error', () => undefined);
        await assertTopology(setup, sub.topology);
        await setup.close();
        await this.#open(sub, connection, this.#generation());
      } catch (error) {
        this.#subscriptions.delete(sub);
        throw error;
      }
    }
    return {
      queue,
      cancel: async () => {
        await this.#stop(sub);
        this.#subscriptions.delete(sub);
      },
    };
  }

  /** A new connection: starts consuming on it for every subscription not cancelled. */
  async openAll(connection: ChannelModel, generation: number): Promise<void> {
    for (const sub of this.#subscriptions) {
      if (!sub.cancelled) await this.#open(sub, connection, generation);
    }
  }

  /** The connection is lost: its channels are stale (their late acks are dropped). */
  detachAll(): void {
    for (const sub of this.#subscriptions) {
      sub.channel = undefined;
      sub.consumerTag = undefined;
    }
  }

  /** Closing: new deliveries are left unacked; handlers in progress finish. */
  cancelAll(): void {
    for (const sub of this.#subscriptions) sub.cancelled = true;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((sub) => this.#stop(sub)));
  }

  async #open(sub: SubscriptionState, connection: ChannelModel, generation: number): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', (err: Error) => {
      this.#logger?.warn(
        { err: describeError(err), queue: sub.queue },
        'bus: consumer channel error',
      );
    });
    channel.on('close', () => {
      if (sub.channel !== channel) return;
      sub.channel = undefined;
      if (!sub.cancelled) this.#onChannelLost(generation, `consumer channel of ${sub.queue}`);
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
  async #stop(sub: SubscriptionState): Promise<void> {
    sub.cancelled = true;
    if (sub.active > 0) await new Promise<void>((resolve) => sub.drained.push(resolve));
    const channel = sub.channel;
    sub.channel = undefined;
    sub.consumerTag = undefined;
    if (channel === undefined) return;
    try {
      await channel.close();
    } catch (error) {
      this.#logger?.debug(
        { err: describeError(error), queue: sub.queue },
        'bus: channel close failed',
      );
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
      this.#onProgress();
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
      const reason = truncateReason(describeError(error));
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
      await this.#publishCopy('', sub.queue, message, {
        [attemptsHeader]: attempts,
        'x-swb-last-error': reason,
      });
    } catch (error) {
      this.#logger?.warn(
        { err: describeError(error), queue: sub.queue },
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
      await this.#publishCopy(deadLetterExchangeOf(sub.queue), message.fields.routingKey, message, {
        [deadKindHeader]: kind,
        [deadReasonHeader]: truncateReason(reason),
        [deadQueueHeader]: sub.queue,
        ...(attempts > 0 ? { [attemptsHeader]: attempts } : {}),
      });
    } catch (error) {
      this.#logger?.warn(
        { err: describeError(error), queue: sub.queue },
        'bus: dead-letter publish failed; requeueing the delivery',
      );
      this.#requeue(sub, channel, message);
      return;
    }
    if (this.#settle(sub, channel, message)) {
      this.#metrics.deadLettered.inc({ queue: sub.queue, kind });
    }
  }
}
