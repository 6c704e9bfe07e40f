import { describe, expect, it } from 'vitest';
import {
  TaskSlots,
  WorkerInvalidTaskError,
  createTaskRegistry,
  defaultTaskTimeoutMs,
  defineTask,
} from '../src/index.js';

const noop = () => Promise.resolve();

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof WorkerInvalidTaskError) return `${error.code} ${error.message}`;
    throw error;
  }
  throw new Error('expected a WorkerInvalidTaskError');
}

describe('defineTask', () => {
  it('fills in the defaults and freezes the definition', () => {
    const task = defineTask('cdr.index', noop);
    expect(task).toMatchObject({
      name: 'cdr.index',
      concurrency: 1,
      timeoutMs: defaultTaskTimeoutMs,
      backoff: { baseDelayMs: 1000, maxDelayMs: 300_000 },
    });
    expect(Object.isFrozen(task)).toBe(true);
  });

  it('refuses a name that is not in the task catalogue', () => {
    expect(problem(() => defineTask('cdr.delete' as 'cdr.index', noop))).toBe(
      'SWB_WORKER_INVALID_TASK name: "cdr.delete" is not in the task catalogue',
    );
  });

  it('names the bad option', () => {
    expect(problem(() => defineTask('blob.ingest', noop, { concurrency: 0 }))).toContain(
      'blob.ingest.concurrency: expected a positive integer, got 0',
    );
    expect(problem(() => defineTask('blob.ingest', noop, { timeoutMs: 1.5 }))).toContain(
      'blob.ingest.timeoutMs',
    );
    expect(
      problem(() =>
        defineTask('blob.ingest', noop, { backoff: { baseDelayMs: 5000, maxDelayMs: 10 } }),
      ),
    ).toContain('blob.ingest.backoff.maxDelayMs: must be ≥ baseDelayMs');
  });
});

describe('createTaskRegistry', () => {
  it('finds tasks by job name', () => {
    const registry = createTaskRegistry([
      defineTask('cdr.index', noop),
      defineTask('retention.purge', noop),
    ]);
    expect(registry.names).toEqual(['cdr.index', 'retention.purge']);
    expect(registry.get('retention.purge')?.name).toBe('retention.purge');
    expect(registry.get('blob.ingest')).toBeUndefined();
  });

  it('refuses a task defined twice, and an empty registry', () => {
    expect(
      problem(() =>
        createTaskRegistry([defineTask('cdr.index', noop), defineTask('cdr.index', noop)]),
      ),
    ).toContain('cdr.index: is defined twice');
    expect(problem(() => createTaskRegistry([]))).toContain('no task defined');
  });
});

describe('TaskSlots', () => {
  it('gives each task at most its concurrency, independently of the others', () => {
    const slots = new TaskSlots(
      createTaskRegistry([
        defineTask('blob.ingest', noop, { concurrency: 2 }),
        defineTask('retention.purge', noop),
      ]),
    );
    expect([slots.tryAcquire('blob.ingest'), slots.tryAcquire('blob.ingest')]).toEqual([
      true,
      true,
    ]);
    expect(slots.tryAcquire('blob.ingest')).toBe(false);
    expect(slots.tryAcquire('retention.purge')).toBe(true);
    slots.release('blob.ingest');
    expect(slots.active('blob.ingest')).toBe(1);
    expect(slots.tryAcquire('blob.ingest')).toBe(true);
    expect(slots.tryAcquire('search.reindex')).toBe(false);
  });
});
