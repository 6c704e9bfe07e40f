// The queue process. `process` is passed in rather than read by the library, so runMain and the
// daemon can be tested without a real process; this file is the only one that touches it.
import { runMain } from '@switchboard/runtime';
import { queueConfigSchema, queueRequiredWhen } from './config.js';
import { createQueueDaemon } from './daemon.js';

await runMain(process, {
  role: 'queue',
  schema: queueConfigSchema,
  requiredWhen: queueRequiredWhen,
  create: createQueueDaemon,
});
