// The public surface of @switchboard/worker: every export is named here.
export { defaultBackoff, retryDelay, taskBackoffType, type BackoffOptions } from './backoff.js';
export {
  workerConfigReference,
  workerConfigSchema,
  workerOpsPort,
  workerRequiredWhen,
  type WorkerConfig,
} from './config.js';
export { createWorkerDaemon, type WorkerDaemonDeps } from './daemon.js';
export {
  WorkerBlobConflictError,
  WorkerChecksumMismatchError,
  WorkerError,
  WorkerErrorCode,
  WorkerIndexRejectedError,
  WorkerInvalidPayloadError,
  WorkerInvalidTaskError,
  WorkerSearchDisabledError,
  WorkerSpoolMissingError,
  WorkerSpoolPathError,
  WorkerThreadError,
  WorkerTimeoutError,
  WorkerUnknownTaskError,
} from './errors.js';
export {
  TaskSlots,
  createTaskRegistry,
  defaultTaskTimeoutMs,
  defineTask,
  type AnyTaskDefinition,
  type TaskContext,
  type TaskDefinition,
  type TaskHandler,
  type TaskOptions,
  type TaskRegistry,
} from './registry.js';
export {
  createTaskWorker,
  type TaskSchedule,
  type TaskWorker,
  type TaskWorkerOptions,
} from './runner.js';
export { checkSpoolFile, resolveSpoolPath } from './spool.js';
export { workerMigrations } from './sql.js';
export { platformTasks, type PlatformTaskDeps, type PlatformTaskOptions } from './tasks.js';
export { runInThread, sha256File, type FileDigest } from './threads.js';
