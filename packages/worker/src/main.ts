// The worker process. `process` is passed in rather than read by the library, so runMain and the
// daemon can be tested without a real process; this file is the only one that touches it.
import { runMain } from '@switchboard/runtime';
import { workerConfigSchema, workerRequiredWhen } from './config.js';
import { createWorkerDaemon } from './daemon.js';

await runMain(process, {
  role: 'worker',
  schema: workerConfigSchema,
  requiredWhen: workerRequiredWhen,
  create: createWorkerDaemon,
});
