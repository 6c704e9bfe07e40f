import type { Logger, Registry } from '@switchboard/runtime';
import type { BufferLimits } from './buffer.js';
import type { EventEnvelope, EventName } from './catalogue/events.js';
import type { Topology } from './topology.js';

// The bus's public types, apart from the class so the publisher, the consumers and the bridge
// can share them without importing the bus. `index.ts` names each one.

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
