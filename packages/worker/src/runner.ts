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
import { Counter, Gauge } from 'prom-client';
import { defaultBackoff, retryDelay, taskBackoffType } from './backoff.js';
import { TaskDurationHistogram, type DurationSeries } from './task-metrics.js';
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
  /** Jobs running now (what the node reports to the controller as its load). */
  readonly activeJobs: number;
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
  const inFlight = new Set<Attempt>();
  const deadlines = new DeadlineSweep(inFlight, options.tasks);
  let queue: Queue | undefined;
  let worker: Worker | undefined;

  const registers = options.metrics === undefined ? [] : [options.metrics];
  new Counter({
    name: 'swb_worker_jobs_completed_total',
    help: 'Jobs that completed, by task',
    labelNames: ['task'] as const,
    registers,
    // Counted in `series` per job (a plain increment), added here on each scrape.
    collect() {
      for (const [task, tally] of series) {
        if (tally.completed > 0) this.inc({ task }, tally.completed);
        tally.completed = 0;
      }
    },
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
  const duration = new TaskDurationHistogram(registers);
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

  // Per task: a plain tally of completed jobs (added to the counter on scrape) and the duration
  // series, so the per-job path neither hashes labels nor allocates (the worker bench showed
  // both with prom-client's labelled metrics).
  const series = new Map<string, { completed: number; readonly seconds: DurationSeries }>();
  function seriesOf(task: string) {
    let found = series.get(task);
    if (found === undefined) {
      found = { completed: 0, seconds: duration.series(task, 'completed') };
      series.set(task, found);
    }
    return found;
  }

  /**
   * One attempt: settles with the handler, or fails at the deadline (or on destroy) even if the
   * handler ignores its signal. Deadlines are checked by one sweep timer for all attempts, not a
   * timer each, and the attempt is one object: the worker bench showed per-job timers and
   * closures (and the garbage they make) as the runner's main cost.
   */
  function attempt(definition: AnyTaskDefinition, payload: unknown, job: Job): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const running = new Attempt(definition, job, logger, resolve, reject, inFlight);
      inFlight.add(running);
      deadlines.ensure();
      let pending: Promise<unknown>;
      try {
        pending = definition.handler(payload as never, running);
      } catch (error) {
        running.fail(error); // a handler that throws before returning its promise
        return;
      }
      pending.then(
        (value) => {
          running.settle(value);
        },
        (error: unknown) => {
          running.fail(error);
        },
      );
    });
  }

  // Two parameters on purpose: BullMQ hands a processor declaring a third (`signal`) an
  // AbortController per job, which cost ~25% of the no-op bench; destroy() aborts the handlers
  // through `inFlight` instead.
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
      const tally = seriesOf(task);
      tally.completed += 1;
      tally.seconds.observe((performance.now() - began) / 1000);
      return result;
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      const unrecoverable =
        error instanceof UnrecoverableError ||
        (error instanceof SwitchboardError && !error.retryable);
      const final = unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      failed.inc({ task, final: String(final) });
      duration.series(task, 'failed').observe((performance.now() - began) / 1000);
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
      deadlines.stop();
      await queue?.close();
    },
    async destroy() {
      deadlines.stop();
      for (const running of inFlight) running.abort(new ClosedError('worker destroyed'));
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
    get activeJobs() {
      return inFlight.size;
    },
  };
}

/**
 * One running attempt, also the handler's `TaskContext`: `signal` and `logger` are made on first
 * use, so a handler that reads neither costs no AbortController and no child logger.
 */
class Attempt implements TaskContext {
  readonly jobId: string;
  readonly attempt: number;
  readonly deadline: number;
  readonly progress: TaskContext['progress'];
  readonly #definition: AnyTaskDefinition;
  readonly #job: Job;
  readonly #logger: Logger;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #inFlight: Set<Attempt>;
  #controller: AbortController | undefined;
  #child: Logger | undefined;
  #done = false;

  constructor(
    definition: AnyTaskDefinition,
    job: Job,
    logger: Logger,
    resolve: (value: unknown) => void,
    reject: (reason: unknown) => void,
    inFlight: Set<Attempt>,
  ) {
    this.#definition = definition;
    this.#job = job;
    this.#logger = logger;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#inFlight = inFlight;
    this.jobId = job.id ?? '';
    this.attempt = job.attemptsMade + 1;
    this.deadline = performance.now() + definition.timeoutMs;
    this.progress = (value) => job.updateProgress(value);
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  get logger(): Logger {
    return (this.#child ??= this.#logger.child({
      task: this.#definition.name,
      jobId: this.#job.id,
    }));
  }

  settle(value: unknown): void {
    if (this.#finish()) this.#resolve(value);
  }

  fail(error: unknown): void {
    if (this.#finish()) this.#reject(error);
  }

  /** Aborts the handler's signal and fails the attempt now, whatever the handler does. */
  abort(reason: unknown): void {
    const error = reason instanceof Error ? reason : new ClosedError('attempt aborted');
    (this.#controller ??= new AbortController()).abort(error);
    this.fail(error);
  }

  timedOut(): void {
    this.abort(new WorkerTimeoutError(this.#definition.name, this.#definition.timeoutMs));
  }

  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#inFlight.delete(this);
    return true;
  }
}

/**
 * One unref'd interval for every attempt's deadline, ticking at a tenth of the shortest task
 * timeout (between 10 and 250 ms), running while attempts are in flight.
 */
class DeadlineSweep {
  readonly #inFlight: Set<Attempt>;
  readonly #tickMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(inFlight: Set<Attempt>, tasks: TaskRegistry) {
    this.#inFlight = inFlight;
    let shortest = Number.POSITIVE_INFINITY;
    for (const name of tasks.names) {
      shortest = Math.min(shortest, tasks.get(name)?.timeoutMs ?? shortest);
    }
    this.#tickMs = Math.min(250, Math.max(10, Math.floor(shortest / 10)));
  }

  ensure(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#sweep();
    }, this.#tickMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#inFlight.size === 0) {
      this.stop();
      return;
    }
    const now = performance.now();
    for (const running of this.#inFlight) if (running.deadline <= now) running.timedOut();
  }
}
