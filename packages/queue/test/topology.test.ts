import { describe, expect, it } from 'vitest';
import { consumerQueueTopology, mergeTopologies, queueArguments } from '../src/index.js';

describe('topology', () => {
  it('gives a consumer queue a quorum queue bound per event, a fanout .dlx and a .dead queue', () => {
    const topology = consumerQueueTopology('billing', {
      routingKeys: ['call.ended', 'call.ended', 'call.started'],
    });
    expect(topology.exchanges).toEqual([
      { name: 'switchboard.events', type: 'topic' },
      { name: 'billing.dlx', type: 'fanout' },
    ]);
    expect(topology.queues.map((q) => q.name)).toEqual(['billing', 'billing.dead']);
    expect(topology.bindings).toEqual([
      { exchange: 'switchboard.events', queue: 'billing', routingKey: 'call.ended' },
      { exchange: 'switchboard.events', queue: 'billing', routingKey: 'call.started' },
      { exchange: 'billing.dlx', queue: 'billing.dead', routingKey: '' },
    ]);
  });

  it('declares quorum queues with their dead-letter exchange, delivery limit and TTLs', () => {
    const [main, dead] = consumerQueueTopology('q', {
      routingKeys: ['node.up'],
      messageTtlMs: 60_000,
      maxLength: 1000,
    }).queues;
    expect(queueArguments(main ?? { name: '' })).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': 'q.dlx',
      'x-delivery-limit': 20,
      'x-message-ttl': 60_000,
      'x-max-length': 1000,
      'x-overflow': 'reject-publish',
    });
    expect(queueArguments(dead ?? { name: '' })).toEqual({
      'x-queue-type': 'quorum',
      'x-message-ttl': 14 * 24 * 3600 * 1000,
    });
  });

  it('leaves the delivery limit off classic queues', () => {
    expect(queueArguments({ name: 'c', type: 'classic', deliveryLimit: 3 })).toEqual({
      'x-queue-type': 'classic',
    });
  });

  it('merges topologies, keeping each exchange, queue and binding once', () => {
    const a = consumerQueueTopology('a', { routingKeys: ['call.ended'] });
    const b = consumerQueueTopology('b', { routingKeys: ['call.ended'] });
    const merged = mergeTopologies(a, b, a);
    expect(merged.exchanges.map((e) => e.name)).toEqual(['switchboard.events', 'a.dlx', 'b.dlx']);
    expect(merged.queues).toHaveLength(4);
    expect(merged.bindings).toHaveLength(4);
  });
});
