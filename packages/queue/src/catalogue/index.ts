export {
  CallDirectionSchema,
  CallDispositionSchema,
  CdrSchema,
  eventNames,
  eventSchemas,
  isEventName,
  type Cdr,
  type EventEnvelope,
  type EventName,
  type EventPayload,
} from './events.js';
export {
  defaultTaskQueue,
  isTaskName,
  jobIdFor,
  jobSchemas,
  taskBackoffType,
  taskNames,
  type TaskName,
  type TaskPayload,
} from './jobs.js';
export { checkEvent, checkJob, schemaProblems, type Checked } from './validate.js';
