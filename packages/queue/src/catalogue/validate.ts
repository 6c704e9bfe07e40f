import type { TSchema } from '@switchboard/runtime';
import { Compile, type Validator } from 'typebox/compile';
import { eventSchemas, type EventName, type EventPayload } from './events.js';
import { jobSchemas, type TaskName, type TaskPayload } from './jobs.js';

/** Why a value failed its schema: the first few problems, each with its JSON pointer. */
export function schemaProblems(validator: Validator, value: unknown, limit = 5): string {
  const problems: string[] = [];
  for (const error of validator.Errors(value)) {
    problems.push(`${error.instancePath === '' ? '/' : error.instancePath}: ${error.message}`);
    if (problems.length >= limit) break;
  }
  return problems.length === 0 ? 'does not match the schema' : problems.join('; ');
}

function compileAll<K extends string>(schemas: Record<K, TSchema>): Record<K, Validator> {
  const compiled = {} as Record<K, Validator>;
  for (const name of Object.keys(schemas) as K[]) compiled[name] = Compile(schemas[name]);
  return compiled;
}

const eventValidators = compileAll(eventSchemas);
const jobValidators = compileAll(jobSchemas);

/** The outcome of a check: the typed value, or the reason it was refused. */
export type Checked<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Checks an event's payload against its schema (compiled once). */
export function checkEvent<N extends EventName>(
  name: N,
  payload: unknown,
): Checked<EventPayload<N>> {
  const validator = eventValidators[name];
  return validator.Check(payload)
    ? { ok: true, value: payload as EventPayload<N> }
    : { ok: false, reason: `${name}: ${schemaProblems(validator, payload)}` };
}

/** Checks a task's payload against its schema (compiled once). */
export function checkJob<T extends TaskName>(task: T, payload: unknown): Checked<TaskPayload<T>> {
  const validator = jobValidators[task];
  return validator.Check(payload)
    ? { ok: true, value: payload as TaskPayload<T> }
    : { ok: false, reason: `${task}: ${schemaProblems(validator, payload)}` };
}
