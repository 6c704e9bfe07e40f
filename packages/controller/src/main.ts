// The controller process. `process` is passed in rather than read by the library, so runMain and
// the daemon can be tested without a real process; this file is the only one that touches it.
import { runMain } from '@switchboard/runtime';
import { controllerConfigSchema } from './config.js';
import { createControllerDaemon } from './daemon.js';

await runMain(process, {
  role: 'controller',
  schema: controllerConfigSchema,
  create: createControllerDaemon,
});
