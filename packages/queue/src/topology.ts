import type { Channel } from 'amqplib';
import { BusTopologyError } from './errors.js';

/** The platform's event exchange: a topic exchange whose routing key is the event name. */
export const defaultEventExchange = 'switchboard.events';

export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'topic' | 'direct' | 'fanout' | 'headers';
  /** Default true. */
  readonly durable?: boolean;
  /** Where unroutable messages go instead of back to the publisher. */
  readonly alternateExchange?: string;
}

export interface QueueSpec {
  readonly name: string;
  /** Default `quorum` (replicated, durable; the only kind that survives a node loss). */
  readonly type?: 'quorum' | 'classic';
  /** Dead letters (rejected, expired, over the delivery limit) go to this exchange. */
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
  /** Message TTL in ms (`x-message-ttl`). */
  readonly messageTtlMs?: number;
  /** Length limit (`x-max-length`); beyond it the broker nacks new publishes (`reject-publish`). */
  readonly maxLength?: number;
  /**
   * Quorum queues only: the broker dead-letters a message redelivered more than this many times
   * (`x-delivery-limit`). A backstop for messages that crash the consumer process; handler
   * failures are counted by the bus itself (see `maxAttempts`).
   */
  readonly deliveryLimit?: number;
}

export interface BindingSpec {
  readonly exchange: string;
  readonly queue: string;
  readonly routingKey: string;
}

/** Exchanges, queues and bindings the bus asserts on every connect, in that order. */
export interface Topology {
  readonly exchanges: readonly ExchangeSpec[];
  readonly queues: readonly QueueSpec[];
  readonly bindings: readonly BindingSpec[];
}

export const emptyTopology: Topology = { exchanges: [], queues: [], bindings: [] };

export interface ConsumerQueueOptions {
  /** The topic exchange events are published on; default `switchboard.events`. */
  readonly exchange?: string;
  /** Routing keys (event names or topic patterns) bound to the queue. */
  readonly routingKeys: readonly string[];
  readonly messageTtlMs?: number;
  readonly maxLength?: number;
  /** Default 20 (the bus's own attempt count dead-letters long before). */
  readonly deliveryLimit?: number;
  /** TTL of dead letters in their `.dead` queue; default 14 days. */
  readonly deadLetterTtlMs?: number;
}

/** `<queue>.dlx`: the fanout exchange a consumer queue dead-letters into. */
export function deadLetterExchangeOf(queue: string): string {
  return `${queue}.dlx`;
}

/** `<queue>.dead`: where an operator finds a consumer queue's dead letters. */
export function deadLetterQueueOf(queue: string): string {
  return `${queue}.dead`;
}

const fourteenDaysMs = 14 * 24 * 3600 * 1000;

/**
 * The topology of one consumer queue: the events exchange (topic), the quorum queue bound to it
 * with each routing key, its dead-letter exchange `<queue>.dlx` (fanout) and dead-letter queue
 * `<queue>.dead` (quorum, with a TTL so forgotten dead letters do not fill the disk).
 */
export function consumerQueueTopology(queue: string, options: ConsumerQueueOptions): Topology {
  const exchange = options.exchange ?? defaultEventExchange;
  const dlx = deadLetterExchangeOf(queue);
  const dead = deadLetterQueueOf(queue);
  return {
    exchanges: [
      { name: exchange, type: 'topic' },
      { name: dlx, type: 'fanout' },
    ],
    queues: [
      {
        name: queue,
        type: 'quorum',
        deadLetterExchange: dlx,
        deliveryLimit: options.deliveryLimit ?? 20,
        ...(options.messageTtlMs === undefined ? {} : { messageTtlMs: options.messageTtlMs }),
        ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
      },
      { name: dead, type: 'quorum', messageTtlMs: options.deadLetterTtlMs ?? fourteenDaysMs },
    ],
    bindings: [
      ...[...new Set(options.routingKeys)].map((routingKey) => ({
        exchange,
        queue,
        routingKey,
      })),
      { exchange: dlx, queue: dead, routingKey: '' },
    ],
  };
}

/** Several topologies as one, each exchange, queue and binding once (the first spec wins). */
export function mergeTopologies(...parts: readonly Topology[]): Topology {
  const exchanges = new Map<string, ExchangeSpec>();
  const queues = new Map<string, QueueSpec>();
  const bindings = new Map<string, BindingSpec>();
  for (const part of parts) {
    for (const e of part.exchanges) if (!exchanges.has(e.name)) exchanges.set(e.name, e);
    for (const q of part.queues) if (!queues.has(q.name)) queues.set(q.name, q);
    for (const b of part.bindings) {
      const key = JSON.stringify([b.exchange, b.queue, b.routingKey]);
      if (!bindings.has(key)) bindings.set(key, b);
    }
  }
  return {
    exchanges: [...exchanges.values()],
    queues: [...queues.values()],
    bindings: [...bindings.values()],
  };
}

/** The `x-` arguments of a queue declaration (pure; what `assertTopology` sends). */
export function queueArguments(spec: QueueSpec): Record<string, string | number> {
  const args: Record<string, string | number> = {};
  const type = spec.type ?? 'quorum';
  args['x-queue-type'] = type;
  if (spec.deadLetterExchange !== undefined)
    args['x-dead-letter-exchange'] = spec.deadLetterExchange;
  if (spec.deadLetterRoutingKey !== undefined) {
    args['x-dead-letter-routing-key'] = spec.deadLetterRoutingKey;
  }
  if (spec.messageTtlMs !== undefined) args['x-message-ttl'] = spec.messageTtlMs;
  if (spec.maxLength !== undefined) {
    args['x-max-length'] = spec.maxLength;
    args['x-overflow'] = 'reject-publish';
  }
  if (spec.deliveryLimit !== undefined && type === 'quorum') {
    args['x-delivery-limit'] = spec.deliveryLimit;
  }
  return args;
}

/**
 * Declares every exchange, queue and binding (idempotent: the broker accepts a redeclaration with
 * the same arguments). A declaration the broker refuses (PRECONDITION_FAILED: the queue exists
 * with other arguments) closes the channel and rejects with `SWB_BUS_TOPOLOGY`.
 */
export async function assertTopology(channel: Channel, topology: Topology): Promise<void> {
  let what = '';
  try {
    for (const e of topology.exchanges) {
      what = `exchange ${e.name}`;
      await channel.assertExchange(e.name, e.type, {
        durable: e.durable ?? true,
        ...(e.alternateExchange === undefined ? {} : { alternateExchange: e.alternateExchange }),
      });
    }
    for (const q of topology.queues) {
      what = `queue ${q.name}`;
      await channel.assertQueue(q.name, { durable: true, arguments: queueArguments(q) });
    }
    for (const b of topology.bindings) {
      what = `binding ${b.exchange} → ${b.queue} (${b.routingKey})`;
      await channel.bindQueue(b.queue, b.exchange, b.routingKey);
    }
  } catch (cause) {
    throw new BusTopologyError(
      `the broker refused ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}
