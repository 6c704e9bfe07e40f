import { setTimeout as sleep } from 'node:timers/promises';
import { defineComponent, type Component, type Logger, type Registry } from '@switchboard/runtime';
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { Counter } from 'prom-client';
import type { Bus, Subscription } from './bus-types.js';
import type { EventEnvelope, EventName, EventPayload } from './catalogue/events.js';
import {
  defaultTaskQueue,
  jobIdFor,
  taskBackoffType,
  taskNames,
  type TaskName,
  type TaskPayload,
} from './catalogue/jobs.js';
import { checkJob } from './catalogue/validate.js';
import { BridgeStoreError, BusInvalidArgumentError } from './errors.js';
import { backoffDelay } from './retry.js';

/** One rule: an event of `event` becomes a job of `task` with the payload `toPayload` makes. */
export interface BridgeRule<N extends EventName = EventName, T extends TaskName = TaskName> {
  readonly event: N;
  readonly task: T;
  readonly toPayload: (payload: EventPayload<N>) => TaskPayload<T>;
}

/** Builds a rule with the payload types checked against the catalogue. */
export function bridgeRule<N extends EventName, T extends TaskName>(
  event: N,
  task: T,
  toPayload: (payload: EventPayload<N>) => TaskPayload<T>,
): BridgeRule {
  return { event, task, toPayload } as unknown as BridgeRule;
}

/** The platform's rules: a finished call's CDR is indexed; a spooled recording is ingested. */
export const defaultBridgeRules: readonly BridgeRule[] = [
  bridgeRule('call.ended', 'cdr.index', (payload) => ({ cdr: payload.cdr })),
  bridgeRule('recording.ready', 'blob.ingest', (payload) => payload),
];

/** The AMQP queue the bridge consumes (quorum, with `.dlx` and `.dead`). */
export const defaultBridgeQueue = 'switchboard.bridge';

/**
 * Options of every job the bridge adds: 5 attempts with exponential backoff (1 s, 2 s, 4 s…,
 * ±50 % jitter), and bounded history so Redis does not grow without end: the last 10 000
 * completed and 50 000 failed jobs are kept (failed ones longer: someone has to look at them).
 */
export const defaultBridgeJobOptions: JobsOptions = {
  attempts: 5,
  // The task's own backoff, computed by the worker (exponential, jittered; 1 s doubling by default).
  backoff: { type: taskBackoffType },
  removeOnComplete: { count: 10_000 },
  removeOnFail: { count: 50_000 },
};

/** What one event turns into (pure). */
export interface PlannedJob {
  readonly task: TaskName;
  readonly payload: unknown;
  readonly jobId: string | undefined;
}

/**
 * The jobs an event makes under `rules`; throws when a rule produces a payload its task's schema
 * refuses (a bug in the rule: the message is retried, then dead-lettered with the reason).
 */
export function planJobs(rules: readonly BridgeRule[], envelope: EventEnvelope): PlannedJob[] {
  const planned: PlannedJob[] = [];
  for (const rule of rules) {
    if (rule.event !== envelope.name) continue;
    const payload = rule.toPayload(envelope.payload);
    const checked = checkJob(rule.task, payload);
    if (!checked.ok) {
      throw new BusInvalidArgumentError(
        `bridge rule ${rule.event} → ${rule.task}: ${checked.reason}`,
      );
    }
    planned.push({
      task: rule.task,
      payload: checked.value,
      jobId: jobIdFor(rule.task, checked.value),
    });
  }
  return planned;
}

export interface BridgeOptions {
  readonly bus: Bus;
  /** The Redis BullMQ uses, e.g. `redis://redis-1:6379`. */
  readonly redisUrl: string;
  /** BullMQ key prefix; default `bull` (the worker must use the same). */
  readonly prefix?: string;
  /** The BullMQ queue; default `switchboard-tasks`. */
  readonly taskQueue?: string;
  /** The AMQP queue; default `switchboard.bridge`. */
  readonly queue?: string;
  readonly rules?: readonly BridgeRule[];
  /** Merged over `defaultBridgeJobOptions`. */
  readonly jobOptions?: JobsOptions;
  readonly prefetch?: number;
  /** Publish `job.completed` / `job.failed` from BullMQ's events; default true. */
  readonly publishOutcomes?: boolean;
  /** How long a handler keeps retrying `Queue.add` while Redis is away; default 30 s. */
  readonly storeRetryMs?: number;
}

export interface BridgeDeps {
  readonly logger?: Logger;
  readonly registry?: Registry;
}

export interface Bridge extends Component {
  /** PING through the BullMQ connection: readiness of Redis. */
  ping(): Promise<void>;
  /** The BullMQ queue the bridge adds to (for tests and tools). */
  readonly taskQueue: string;
}

/**
 * The bridge from events to jobs: consumes the rules' events from its AMQP queue, adds each job
 * to BullMQ with its natural job id (a redelivered event finds the job already there), and acks
 * the AMQP message only after `Queue.add` resolved: at-least-once on the wire, exactly-once in
 * effect. Also turns BullMQ's completed / final failed events into `job.completed` /
 * `job.failed` on the bus.
 */
export function createBridge(options: BridgeOptions, deps: BridgeDeps = {}): Bridge {
  const rules = options.rules ?? defaultBridgeRules;
  if (rules.length === 0) throw new BusInvalidArgumentError('bridge: no rules');
  const taskQueue = options.taskQueue ?? defaultTaskQueue;
  const amqpQueue = options.queue ?? defaultBridgeQueue;
  const prefix = options.prefix ?? 'bull';
  const jobOptions: JobsOptions = { ...defaultBridgeJobOptions, ...options.jobOptions };
  const storeRetryMs = options.storeRetryMs ?? 30_000;
  const logger = deps.logger?.child({ component: 'bridge' });
  const registers = deps.registry === undefined ? [] : [deps.registry];
  const stored = new Counter({
    name: 'swb_bridge_jobs_stored_total',
    help: 'Queue.add calls that resolved (new jobs and duplicates alike)',
    labelNames: ['task'] as const,
    registers,
  });
  const duplicates = new Counter({
    name: 'swb_bridge_jobs_duplicate_total',
    help: 'Adds that found the job id already present (BullMQ "duplicated" events)',
    labelNames: ['task'] as const,
    registers,
  });
  const outcomes = new Counter({
    name: 'swb_bridge_outcome_events_total',
    help: 'job.completed / job.failed events published',
    labelNames: ['event'] as const,
    registers,
  });
  const connection = { url: options.redisUrl, maxRetriesPerRequest: null };
  let queue: Queue | undefined;
  let events: QueueEvents | undefined;
  let subscription: Subscription | undefined;
  let stopping = false;

  const taskOf = (jobId: string): string =>
    taskNames.find((task) => jobId.startsWith(`${task}-`)) ?? 'unknown';

  async function store(q: Queue, job: PlannedJob): Promise<void> {
    const began = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await q.add(job.task, job.payload, {
          ...jobOptions,
          ...(job.jobId === undefined ? {} : { jobId: job.jobId }),
        });
        stored.inc({ task: job.task });
        return;
      } catch (cause) {
        if (stopping || Date.now() - began > storeRetryMs) {
          throw new BridgeStoreError(job.task, job.jobId, { cause });
        }
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 5000 });
        logger?.warn(
          { err: cause, task: job.task, jobId: job.jobId, delayMs: delay },
          'bridge: Queue.add failed; retrying',
        );
        await sleep(delay);
      }
    }
  }

  async function publishOutcome(q: Queue, jobId: string, failedReason?: string): Promise<void> {
    const job = await q.getJob(jobId);
    if (failedReason === undefined) {
      await options.bus.publishEvent(
        'job.completed',
        {
          queue: taskQueue,
          jobId,
          task: job?.name ?? taskOf(jobId),
          attempts: Math.max(1, job?.attemptsMade ?? 1),
          ...(job?.finishedOn !== undefined && job.processedOn !== undefined
            ? { durationMs: Math.max(0, job.finishedOn - job.processedOn) }
            : {}),
        },
        {
          mandatory: false,
          messageId: `job.completed-${jobId}-${String(job?.finishedOn ?? Date.now())}`,
        },
      );
      outcomes.inc({ event: 'job.completed' });
      return;
    }
    // Final only: attempts exhausted, or moved to failed early (UnrecoverableError). A job that
    // will be retried is not in the failed state.
    if (job !== undefined) {
      const attempts = job.opts.attempts ?? 1;
      const state = await job.getState();
      if (state !== 'failed' && job.attemptsMade < attempts) return;
    }
    await options.bus.publishEvent(
      'job.failed',
      {
        queue: taskQueue,
        jobId,
        task: job?.name ?? taskOf(jobId),
        attempts: job?.attemptsMade ?? 0,
        reason: failedReason.slice(0, 4096),
      },
      {
        mandatory: false,
        messageId: `job.failed-${jobId}-${String(job?.finishedOn ?? Date.now())}`,
      },
    );
    outcomes.inc({ event: 'job.failed' });
  }

  const names = [...new Set(rules.map((rule) => rule.event))];

  const lifecycle = defineComponent({
    async start() {
      const q = new Queue(taskQueue, { connection, prefix });
      queue = q;
      q.on('error', (err: Error) => {
        logger?.warn({ err }, 'bridge: BullMQ queue error');
      });
      await q.waitUntilReady();
      if (options.publishOutcomes ?? true) {
        const ev = new QueueEvents(taskQueue, { connection, prefix });
        events = ev;
        ev.on('error', (err: Error) => {
          logger?.warn({ err }, 'bridge: BullMQ queue events error');
        });
        const report = (jobId: string, failedReason?: string): void => {
          publishOutcome(q, jobId, failedReason).catch((error: unknown) => {
            logger?.warn({ err: error, jobId }, 'bridge: could not publish the job outcome');
          });
        };
        ev.on('completed', ({ jobId }) => {
          report(jobId);
        });
        ev.on('failed', ({ jobId, failedReason }) => {
          report(jobId, failedReason);
        });
        ev.on('duplicated', ({ jobId }) => {
          duplicates.inc({ task: taskOf(jobId) });
        });
        await ev.waitUntilReady();
      }
      subscription = await options.bus.subscribe(
        amqpQueue,
        names,
        async (envelope, context) => {
          for (const job of planJobs(rules, envelope)) await store(q, job);
          logger?.debug(
            { event: envelope.name, eventId: envelope.id, attempt: context.attempt },
            'bridge: stored',
          );
        },
        options.prefetch === undefined ? {} : { prefetch: options.prefetch },
      );
      logger?.info({ queue: amqpQueue, taskQueue, events: names }, 'bridge: consuming');
    },
    async close() {
      stopping = true;
      await subscription?.cancel();
      await events?.close();
      await queue?.close();
    },
    async destroy() {
      stopping = true;
      await events?.disconnect();
      await queue?.disconnect();
    },
  });

  return {
    taskQueue,
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
    destroy: () => lifecycle.destroy(),
    async ping() {
      if (queue === undefined) throw new BridgeStoreError('ping', undefined);
      // The default backend's client is an ioredis instance; IRedisClient leaves ping out.
      const client = (await queue.backend.client) as unknown as { ping(): Promise<unknown> };
      await client.ping();
    },
  };
}
