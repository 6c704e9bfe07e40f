import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TaskDurationHistogram, durationBuckets } from '../src/task-metrics.js';

describe('TaskDurationHistogram', () => {
  it('serves cumulative buckets, +Inf, sum and count in the Prometheus text format', async () => {
    const registry = new Registry();
    const histogram = new TaskDurationHistogram([registry]);
    const completed = histogram.series('cdr.index', 'completed');
    completed.observe(0.003); // first bucket
    completed.observe(0.005); // on a bound: counts in that bucket (le is inclusive)
    completed.observe(0.2);
    completed.observe(1000); // above every bound: +Inf only
    histogram.series('blob.ingest', 'failed').observe(2);

    const text = await registry.metrics();
    const series = (le: string): string =>
      `swb_worker_job_duration_seconds_bucket{task="cdr.index",outcome="completed",le="${le}"}`;
    expect(text).toContain('# TYPE swb_worker_job_duration_seconds histogram');
    expect(text).toContain(`${series('0.005')} 2`);
    expect(text).toContain(`${series('0.1')} 2`);
    expect(text).toContain(`${series('0.25')} 3`);
    expect(text).toContain(`${series('300')} 3`);
    expect(text).toContain(`${series('+Inf')} 4`);
    expect(text).toContain(
      'swb_worker_job_duration_seconds_sum{task="cdr.index",outcome="completed"} 1000.208',
    );
    expect(text).toContain(
      'swb_worker_job_duration_seconds_count{task="cdr.index",outcome="completed"} 4',
    );
    expect(text).toContain(
      'swb_worker_job_duration_seconds_count{task="blob.ingest",outcome="failed"} 1',
    );
    // One line per bound, plus +Inf, sum and count, per series.
    const lines = text.split('\n').filter((l) => l.startsWith('swb_worker_job_duration_seconds'));
    expect(lines).toHaveLength(2 * (durationBuckets.length + 3));
  });

  it('returns the same series for the same task and outcome, and forgets them on reset', async () => {
    const registry = new Registry();
    const histogram = new TaskDurationHistogram([registry]);
    expect(histogram.series('cdr.index', 'completed')).toBe(
      histogram.series('cdr.index', 'completed'),
    );
    histogram.series('cdr.index', 'completed').observe(1);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('swb_worker_job_duration_seconds_count');
  });
});
