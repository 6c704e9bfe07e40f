export {
  workerConfigSchema,
  workerOpsPort,
  workerRequiredWhen,
  type WorkerConfig,
} from './config.js';
export { createWorkerDaemon } from './daemon.js';
