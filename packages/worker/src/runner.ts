import { performance } from 'node:perf_hooks';
import { checkJob, type TaskName, type TaskPayload } from '@switchboard/queue';
import {
  ClosedError,
  SwitchboardError,
  defineComponent,
  type Component,
  type Logger,
  type Registry,
} from '@switchboard/runtime';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Counter, Gauge, Histogram } from 'prom-client';
import { defaultBackoff, retryDelay, taskBackoffType } from './backoff.js';
import { WorkerInvalidPayloadError, WorkerTimeoutError, WorkerUnknownTaskError } from './errors.js';
import {
  TaskSlots,
  type AnyTaskDefinition,
  type TaskContext,
  type TaskRegistry,
} from './registry.js';

/** A repeatable job: BullMQ's job scheduler `id` adds `task` with `payload` every `everyMs`. */
export interface TaskSchedule<T extends TaskName = TaskName> {
  /** The scheduler's id; one scheduler per id, whatever the number of workers upserting it. */
  readonly id: string;
  readonly task: T;
  readonly payload: TaskPayload<T>;
  /** 0 removes the scheduler. */
  readonly everyMs: number;
  /** Attempts of each job it adds (default 3, with the task's backoff). */
  readonly attempts?: number;
}

export interface TaskWorkerOptions {
  /** The Redis BullMQ uses, e.g. `redis://127.0.0.1:6379`. */
  readonly redisUrl: string;
  readonly queueName: string;
  /** Redis key prefix of the queue (BullMQ's default is `bull`). */
  readonly prefix?: string;
  readonly tasks: TaskRegistry;
  /** Jobs this worker runs at once, all tasks together (default 16). */
  readonly concurrency?: number;
  /** Lock duration (default 30 s); renewed every half of it while a job runs. */
  readonly lockDurationMs?: number;
  /** How often this worker requeues jobs whose lock expired (default 30 s). */
  readonly stalledIntervalMs?: number;
  /** Stalls a job survives before it is failed (default 1). */
  readonly maxStalledCount?: number;
  /** How long a job is put back when its task has no free slot (default 500 ms, jittered). */
  readonly deferMs?: number;
  readonly schedules?: readonly TaskSchedule[];
  readonly logger: Logger;
  /** The daemon's registry; the worker's metrics are added to it. */
  readonly metrics?: Registry;
  /** Recorded on each job it takes (BullMQ's worker name). */
  readonly workerName?: string;
  /** Jitter source, in [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

export interface TaskWorker extends Component {
  /** The queue (schedules, counts); undefined before `start()`. */
  readonly queue: Queue | undefined;
  /** The BullMQ worker; undefined before `start()`. */
  readonly worker: Worker | undefined;
}

/** Job states the queue-depth gauge reports. */
const depthStates = ['waiting', 'active', 'delayed', 'failed'] as const;

function failedReason(error: SwitchboardError): string {
  return `${error.code}: ${error.message}`;
}

/**
 * Runs registered tasks from one BullMQ queue: one Worker takes every task's jobs (the job name
 * is the task name), with per-task slots in process; checks each payload against the catalogue
 * (a bad one fails at once with the reason); aborts an attempt at its task's timeout; turns a
 * non-retryable `SwitchboardError` into BullMQ's `UnrecoverableError` so no retry is wasted;
 * computes retry delays with the task's exponential backoff and jitter; upserts the repeatable
 * schedules; and counts jobs and durations per task. `close()` stops taking jobs and waits for
 * the active ones; `destroy()` aborts their signals and closes at once.
 */
export function createTaskWorker(options: TaskWorkerOptions): TaskWorker {
  const logger = options.logger.child({ component: 'tasks', queue: options.queueName });
  const random = options.random ?? Math.random;
  const deferMs = options.deferMs ?? 500;
  const connection = { url: options.redisUrl, maxRetriesPerRequest: null };
  const prefix = options.prefix ?? 'bull';
  const slots = new TaskSlots(options.tasks);
  const running = new Set<(reason: unknown) => void>();
  let queue: Queue | undefined;
  let worker: Worker | undefined;

  const registers = options.metrics === undefined ? [] : [options.metrics];
  const completed = new Counter({
    name: 'swb_worker_jobs_completed_total',
    help: 'Jobs that completed, by task',
    labelNames: ['task'] as const,
    registers,
  });
  const failed = new Counter({
    name: 'swb_worker_jobs_failed_total',
    help: 'Failed attempts, by task; final="true" when the job will not be retried',
    labelNames: ['task', 'final'] as const,
    registers,
  });
  const deferred = new Counter({
    name: 'swb_worker_jobs_deferred_total',
    help: 'Jobs put back because their task had no free slot on this worker',
    labelNames: ['task'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'swb_worker_job_duration_seconds',
    help: 'Duration of an attempt, by task and outcome',
    labelNames: ['task', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  new Gauge({
    name: 'swb_worker_queue_jobs',
    help: 'Jobs in the queue, by state (read from Redis on each scrape)',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      if (queue === undefined) return;
      try {
        const counts = await queue.getJobCounts(...depthStates);
        for (const state of depthStates) this.set({ state }, counts[state] ?? 0);
      } catch (error) {
        // Redis down: the readiness gauges say so; a scrape should still answer.
        logger.debug({ err: error }, 'cannot read the queue depth');
      }
    },
  });

  // Label children per task, resolved once: prom-client hashes the labels on every unbound call,
  // which showed in the worker bench.
  const series = new Map<
    string,
    {
      readonly completed: { inc(): void };
      readonly completedSeconds: { observe(value: number): void };
    }
  >();
  function seriesOf(task: string) {
    let found = series.get(task);
    if (found === undefined) {
      found = {
        completed: completed.labels({ task }),
        completedSeconds: duration.labels({ task, outcome: 'completed' }),
      };
      series.set(task, found);
    }
    return found;
  }

  /**
   * One attempt: settles with the handler, or fails at the deadline (or on destroy) even if the
   * handler ignores its signal. The AbortController is made only when the handler reads
   * `signal` or an abort happens: the worker bench showed each per-job allocation.
   */
  async function attempt(
    definition: AnyTaskDefinition,
    payload: unknown,
    job: Job,
  ): Promise<unknown> {
    let controller: AbortController | undefined;
    const controllerOf = (): AbortController => (controller ??= new AbortController());
    let child: Logger | undefined;
    const context: TaskContext = {
      jobId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      get signal() {
        return controllerOf().signal;
      },
      get logger() {
        return (child ??= logger.child({ task: definition.name, jobId: job.id }));
      },
      progress: (value) => job.updateProgress(value),
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abort: ((reason: unknown) => void) | undefined;
    try {
      return await new Promise<unknown>((resolve, reject) => {
        abort = (reason) => {
          const error = reason instanceof Error ? reason : new ClosedError('attempt aborted');
          controllerOf().abort(error);
          reject(error);
        };
        running.add(abort);
        timer = setTimeout(() => {
          abort?.(new WorkerTimeoutError(definition.name, definition.timeoutMs));
        }, definition.timeoutMs);
        (definition.handler as (p: unknown, c: TaskContext) => Promise<unknown>)(
          payload,
          context,
        ).then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
      if (abort !== undefined) running.delete(abort);
    }
  }

  // Two parameters on purpose: BullMQ hands a processor declaring a third (`signal`) an
  // AbortController per job, which cost ~25% of the no-op bench; destroy() aborts the handlers
  // through `running` instead.
  async function processJob(job: Job, token?: string): Promise<unknown> {
    const task = job.name;
    const began = performance.now();
    const definition = options.tasks.get(task);
    let acquired = false;
    try {
      if (definition === undefined) throw new WorkerUnknownTaskError(task);
      const checked = checkJob(definition.name, job.data);
      if (!checked.ok) throw new WorkerInvalidPayloadError(task, checked.reason);
      if (!slots.tryAcquire(task)) {
        deferred.inc({ task });
        const delay = Math.floor(deferMs / 2 + random() * deferMs);
        await job.moveToDelayed(Date.now() + delay, token);
        throw new DelayedError();
      }
      acquired = true;
      const result = await attempt(definition, checked.value, job);
      const series = seriesOf(task);
      series.completed.inc();
      series.completedSeconds.observe((performance.now() - began) / 1000);
      return result;
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      const unrecoverable =
        error instanceof UnrecoverableError ||
        (error instanceof SwitchboardError && !error.retryable);
      const final = unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      failed.inc({ task, final: String(final) });
      duration.observe({ task, outcome: 'failed' }, (performance.now() - began) / 1000);
      const log = logger.child({ task, jobId: job.id, attempt: job.attemptsMade + 1, final });
      log.warn({ err: error }, final ? 'job failed' : 'attempt failed; will retry');
      if (error instanceof SwitchboardError && !error.retryable) {
        throw new UnrecoverableError(failedReason(error));
      }
      throw error;
    } finally {
      if (acquired) slots.release(task);
    }
  }

  async function applySchedules(queue: Queue): Promise<void> {
    for (const schedule of options.schedules ?? []) {
      if (schedule.everyMs === 0) {
        if (await queue.removeJobScheduler(schedule.id)) {
          logger.info({ scheduler: schedule.id }, 'schedule removed');
        }
        continue;
      }
      await queue.upsertJobScheduler(
        schedule.id,
        { every: schedule.everyMs },
        {
          name: schedule.task,
          data: schedule.payload,
          opts: {
            attempts: schedule.attempts ?? 3,
            backoff: { type: taskBackoffType },
            removeOnComplete: { count: 100 },
            removeOnFail: { count: 1000 },
          },
        },
      );
      logger.info(
        { scheduler: schedule.id, task: schedule.task, everyMs: schedule.everyMs },
        'schedule upserted',
      );
    }
  }

  const lifecycle = defineComponent({
    async start() {
      const opened = new Queue(options.queueName, { connection, prefix });
      opened.on('error', (error) => {
        logger.warn({ err: error }, 'queue connection error');
      });
      queue = opened;
      await opened.waitUntilReady();
      await applySchedules(opened);
      const created = new Worker(options.queueName, processJob, {
        connection,
        prefix,
        concurrency: options.concurrency ?? 16,
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: options.stalledIntervalMs ?? 30_000,
        maxStalledCount: options.maxStalledCount ?? 1,
        ...(options.workerName === undefined ? {} : { name: options.workerName }),
        settings: {
          backoffStrategy: (attemptsMade, _type, _error, job) =>
            retryDelay(
              attemptsMade,
              (job === undefined ? undefined : options.tasks.get(job.name)?.backoff) ??
                defaultBackoff,
              random,
            ),
        },
      });
      created.on('error', (error) => {
        logger.warn({ err: error }, 'worker error');
      });
      created.on('stalled', (jobId) => {
        logger.warn({ jobId }, 'job stalled (its worker lost the lock); requeued');
      });
      worker = created;
      await created.waitUntilReady();
      logger.info(
        { tasks: options.tasks.names, concurrency: options.concurrency ?? 16 },
        'taking jobs',
      );
    },
    async close() {
      // Stops taking jobs and waits for the active ones (bounded by the daemon's close deadline).
      await worker?.close();
      await queue?.close();
    },
    async destroy() {
      for (const abort of running) abort(new ClosedError('worker destroyed'));
      await worker?.close(true);
      await queue?.close();
    },
  });

  return {
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
    destroy: () => lifecycle.destroy(),
    get queue() {
      return queue;
    },
    get worker() {
      return worker;
    },
  };
}
