import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The per-node handles the hot path uses: label lookups happen once, when the node is added. */
export interface NodeMetrics {
  readonly duration: { observe(seconds: number): void };
  readonly ok: { inc(): void };
  readonly failed: { inc(): void };
}

export interface SqlMetrics {
  node(name: string, role: 'primary' | 'replica'): NodeMetrics;
  removeNode(name: string, role: 'primary' | 'replica'): void;
  ejection(name: string): void;
  failover(from: string): void;
  causal(outcome: CausalOutcome): void;
}

/** How a causal read was served. */
export type CausalOutcome = 'cached' | 'waited' | 'primary' | 'timeout';

/** What the gauges read when Prometheus scrapes; the router's state is the only source. */
export interface SqlMetricsSource {
  nodes(): Iterable<{
    readonly name: string;
    readonly role: 'primary' | 'replica';
    readonly inPool: boolean;
    readonly lagMs: number;
  }>;
}

/** Registers the router's metrics on `registry` (never prom-client's global one). */
export function createSqlMetrics(registry: Registry, source: SqlMetricsSource): SqlMetrics {
  const registers = [registry];
  const duration = new Histogram({
    name: 'swb_sql_query_duration_seconds',
    help: 'Time from sending a statement to a node to its answer',
    labelNames: ['node', 'role'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers,
  });
  const queries = new Counter({
    name: 'swb_sql_queries_total',
    help: 'Statements sent to each node, by result',
    labelNames: ['node', 'role', 'result'] as const,
    registers,
  });
  const ejections = new Counter({
    name: 'swb_sql_ejections_total',
    help: 'Times a node left its pool after a connection error',
    labelNames: ['node'] as const,
    registers,
  });
  const failovers = new Counter({
    name: 'swb_sql_read_failovers_total',
    help: 'Reads retried on another node after a connection error on this one',
    labelNames: ['node'] as const,
    registers,
  });
  const causal = new Counter({
    name: 'swb_sql_causal_reads_total',
    help: 'Causal reads by how they were served: cached (replica known caught up), waited (MASTER_GTID_WAIT), primary, timeout',
    labelNames: ['outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'swb_sql_node_in_pool',
    help: '1 while the node serves its role (replica in the read pool; primary reachable)',
    labelNames: ['node', 'role'] as const,
    registers,
    collect() {
      this.reset();
      for (const node of source.nodes()) {
        this.set({ node: node.name, role: node.role }, node.inPool ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'swb_sql_replica_lag_seconds',
    help: 'How far each replica was behind the primary at the last poll',
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      for (const node of source.nodes()) {
        if (node.role === 'replica') this.set({ node: node.name }, node.lagMs / 1000);
      }
    },
  });
  return {
    node(name, role) {
      return {
        duration: duration.labels({ node: name, role }),
        ok: queries.labels({ node: name, role, result: 'ok' }),
        failed: queries.labels({ node: name, role, result: 'error' }),
      };
    },
    removeNode(name, role) {
      duration.remove({ node: name, role });
      queries.remove({ node: name, role, result: 'ok' });
      queries.remove({ node: name, role, result: 'error' });
    },
    ejection(name) {
      ejections.inc({ node: name });
    },
    failover(from) {
      failovers.inc({ node: from });
    },
    causal(outcome) {
      causal.inc({ outcome });
    },
  };
}
