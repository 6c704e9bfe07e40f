import { Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry } from 'prom-client';

export interface MetricsRegistryOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC); default true. */
  readonly defaultMetrics?: boolean;
  /** Labels on every series, e.g. `{ role: 'worker', node_id: 'worker-a-1' }`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A Prometheus registry owned by one daemon. Never prom-client's global registry: two daemons (or
 * two tests) in one process would then share and collide on metrics.
 */
export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.labels !== undefined) registry.setDefaultLabels({ ...options.labels });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}
