import type { Registry } from '@switchboard/runtime';
import { Counter, Gauge } from 'prom-client';

/** A counter child with its labels bound (`counter.labels({ … })`). */
export interface BoundCounter {
  inc(value?: number): void;
}

/** The bus's Prometheus series (`swb_bus_*`); registered in the daemon's own registry. */
export interface BusMetrics {
  readonly published: Counter<'exchange'>;
  readonly confirmed: Counter<'exchange'>;
  readonly returned: Counter<'exchange'>;
  readonly nacked: Counter<'exchange'>;
  readonly consumed: Counter<'queue'>;
  readonly acked: Counter<'queue'>;
  readonly retried: Counter<'queue'>;
  readonly deadLettered: Counter<'queue' | 'kind'>;
  readonly staleAcks: Counter<'queue'>;
  readonly reconnects: Counter;
  readonly connected: Gauge;
  readonly buffered: Gauge;
}

export function createBusMetrics(registry?: Registry): BusMetrics {
  const registers = registry === undefined ? [] : [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  return {
    published: counter('swb_bus_published_total', 'Messages handed to the broker', ['exchange']),
    confirmed: counter('swb_bus_confirmed_total', 'Publishes the broker confirmed', ['exchange']),
    returned: counter(
      'swb_bus_returned_total',
      'Publishes returned as unroutable (SWB_BUS_UNROUTABLE)',
      ['exchange'],
    ),
    nacked: counter('swb_bus_nacked_total', 'Publishes the broker refused', ['exchange']),
    consumed: counter('swb_bus_consumed_total', 'Deliveries received', ['queue']),
    acked: counter('swb_bus_acked_total', 'Deliveries acknowledged after success', ['queue']),
    retried: counter('swb_bus_retried_total', 'Deliveries republished for another attempt', [
      'queue',
    ]),
    deadLettered: counter('swb_bus_dead_lettered_total', 'Deliveries dead-lettered', [
      'queue',
      'kind',
    ]),
    staleAcks: counter(
      'swb_bus_stale_acks_total',
      'Acks dropped because their channel had closed (the broker redelivers)',
      ['queue'],
    ),
    reconnects: new Counter({
      name: 'swb_bus_reconnects_total',
      help: 'Connections opened after the first',
      registers,
    }),
    connected: new Gauge({
      name: 'swb_bus_connected',
      help: '1 while the bus holds an open AMQP connection',
      registers,
    }),
    buffered: new Gauge({
      name: 'swb_bus_buffered_messages',
      help: 'Publishes waiting in the buffer for a connection',
      registers,
    }),
  };
}
