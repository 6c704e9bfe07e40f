import type { Registry } from 'prom-client';

/** Upper bounds (seconds) of the attempt-duration histogram. */
export const durationBuckets: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
]);

/** One (task, outcome) series: per-bucket counts (not cumulative), sum and count. */
export class DurationSeries {
  readonly labels: Readonly<{ task: string; outcome: string }>;
  readonly counts = new Float64Array(durationBuckets.length + 1);
  sum = 0;
  count = 0;

  constructor(task: string, outcome: string) {
    this.labels = Object.freeze({ task, outcome });
  }

  /** No allocation, no label hashing: the per-job path of the worker. */
  observe(seconds: number): void {
    let i = 0;
    while (i < durationBuckets.length && seconds > (durationBuckets[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += seconds;
    this.count += 1;
  }
}

interface MetricValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/**
 * `swb_worker_job_duration_seconds`, served to a prom-client registry as an ordinary histogram.
 * prom-client's own labelled histogram converts, validates and hashes the labels on every
 * observation; at thousands of jobs a second that showed in the worker bench, so each series
 * here is an object the runner holds and updates in place.
 */
export class TaskDurationHistogram {
  readonly name = 'swb_worker_job_duration_seconds';
  readonly help = 'Duration of an attempt, by task and outcome';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, DurationSeries>();

  constructor(registries: readonly Registry[]) {
    for (const registry of registries) {
      registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
    }
  }

  series(task: string, outcome: string): DurationSeries {
    const key = `${task}\u0000${outcome}`;
    let found = this.#series.get(key);
    if (found === undefined) {
      found = new DurationSeries(task, outcome);
      this.#series.set(key, found);
    }
    return found;
  }

  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: MetricValue[];
  }> {
    const values: MetricValue[] = [];
    for (const series of this.#series.values()) {
      let cumulative = 0;
      durationBuckets.forEach((bound, i) => {
        cumulative += series.counts[i] ?? 0;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...series.labels, le: bound },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...series.labels, le: '+Inf' },
        value: series.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    this.#series.clear();
  }
}
