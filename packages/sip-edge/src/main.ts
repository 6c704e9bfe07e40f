// The SIP edge process. `process` is passed in rather than read by the library, so runMain and
// the daemon can be tested without a real process; this file is the only one that touches it.
import { runMain } from '@switchboard/runtime';
import { sipEdgeConfigSchema, sipEdgeRequiredWhen } from './config.js';
import { createSipEdgeDaemon } from './daemon.js';

await runMain(process, {
  role: 'sip-edge',
  schema: sipEdgeConfigSchema,
  requiredWhen: sipEdgeRequiredWhen,
  create: createSipEdgeDaemon,
});
