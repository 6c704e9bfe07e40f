import type { Logger } from '@switchboard/runtime';
import { isTaskName, type TaskName, type TaskPayload } from '@switchboard/queue';
import { defaultBackoff, type BackoffOptions } from './backoff.js';
import { WorkerInvalidTaskError } from './errors.js';

/** What a handler receives besides its (already schema-checked) payload. */
export interface TaskContext {
  /** The BullMQ job id. */
  readonly jobId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * Aborted when the attempt times out or the worker is destroyed: stop, and leave things so a
   * retry can pick up (every handler is idempotent).
   */
  readonly signal: AbortSignal;
  /** A child logger bound to `{ task, jobId }`. */
  readonly logger: Logger;
  /** `job.updateProgress`: a percentage or an object (shown by queue dashboards). */
  readonly progress: (value: number | Readonly<Record<string, unknown>>) => Promise<void>;
}

export type TaskHandler<T extends TaskName> = (
  payload: TaskPayload<T>,
  context: TaskContext,
) => Promise<unknown>;

export interface TaskOptions {
  /** Jobs of this task one worker runs at once (default 1). */
  readonly concurrency?: number;
  /** An attempt running longer is aborted and failed (default 5 minutes). */
  readonly timeoutMs?: number;
  /** Retry delays, when the job was added with `backoff: { type: taskBackoffType }`. */
  readonly backoff?: Partial<BackoffOptions>;
}

/** A task as the registry holds it: options resolved, frozen. */
export interface TaskDefinition<T extends TaskName = TaskName> {
  readonly name: T;
  readonly handler: TaskHandler<T>;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly backoff: BackoffOptions;
}

export const defaultTaskTimeoutMs = 300_000;

function positiveInteger(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new WorkerInvalidTaskError(field, `expected a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Declares a task: its catalogue name (so the payload type comes from the catalogue), its
 * handler, and how it runs. Options are checked here, once; a wrong one throws
 * `SWB_WORKER_INVALID_TASK` naming the field.
 */
export function defineTask<T extends TaskName>(
  name: T,
  handler: TaskHandler<T>,
  options: TaskOptions = {},
): TaskDefinition<T> {
  if (!isTaskName(name)) {
    throw new WorkerInvalidTaskError(
      'name',
      `${JSON.stringify(name)} is not in the task catalogue`,
    );
  }
  const backoff = { ...defaultBackoff, ...options.backoff };
  positiveInteger(`${name}.backoff.baseDelayMs`, backoff.baseDelayMs);
  positiveInteger(`${name}.backoff.maxDelayMs`, backoff.maxDelayMs);
  if (backoff.maxDelayMs < backoff.baseDelayMs) {
    throw new WorkerInvalidTaskError(`${name}.backoff.maxDelayMs`, 'must be ≥ baseDelayMs');
  }
  return Object.freeze({
    name,
    handler,
    concurrency: positiveInteger(`${name}.concurrency`, options.concurrency ?? 1),
    timeoutMs: positiveInteger(`${name}.timeoutMs`, options.timeoutMs ?? defaultTaskTimeoutMs),
    backoff: Object.freeze(backoff),
  });
}

/** Any one task's definition (a union, so each keeps its own payload type). */
export type AnyTaskDefinition = { [K in TaskName]: TaskDefinition<K> }[TaskName];

/** The tasks one worker runs, by name. */
export interface TaskRegistry {
  get(name: string): AnyTaskDefinition | undefined;
  readonly names: readonly TaskName[];
}

/** Collects definitions, refusing a name defined twice. */
export function createTaskRegistry(definitions: readonly AnyTaskDefinition[]): TaskRegistry {
  const byName = new Map<string, AnyTaskDefinition>();
  for (const definition of definitions) {
    if (byName.has(definition.name)) {
      throw new WorkerInvalidTaskError(definition.name, 'is defined twice');
    }
    byName.set(definition.name, definition);
  }
  if (byName.size === 0) throw new WorkerInvalidTaskError('tasks', 'no task defined');
  return Object.freeze({
    get: (name: string) => byName.get(name),
    names: Object.freeze([...byName.keys()] as TaskName[]),
  });
}

/**
 * Per-task in-process slots. BullMQ's concurrency is per Worker and the platform's tasks share
 * one queue, so a Worker cannot be told "at most 2 blob.ingest": the runner takes a slot here,
 * and a job finding none is put back as delayed (not counted as an attempt) for another worker
 * or a later turn, instead of holding one of the Worker's slots while it waits.
 */
export class TaskSlots {
  readonly #limits: ReadonlyMap<string, number>;
  readonly #active = new Map<string, number>();

  constructor(registry: TaskRegistry) {
    const limits = new Map<string, number>();
    for (const name of registry.names) {
      const definition = registry.get(name);
      if (definition !== undefined) limits.set(name, definition.concurrency);
    }
    this.#limits = limits;
  }

  tryAcquire(task: string): boolean {
    const active = this.#active.get(task) ?? 0;
    if (active >= (this.#limits.get(task) ?? 0)) return false;
    this.#active.set(task, active + 1);
    return true;
  }

  release(task: string): void {
    const active = this.#active.get(task) ?? 0;
    this.#active.set(task, Math.max(0, active - 1));
  }

  active(task: string): number {
    return this.#active.get(task) ?? 0;
  }
}
