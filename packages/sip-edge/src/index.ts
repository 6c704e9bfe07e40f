export {
  sipEdgeConfigSchema,
  sipEdgeOpsPort,
  sipEdgeRequiredWhen,
  type SipEdgeConfig,
} from './config.js';
export { createSipEdgeDaemon } from './daemon.js';
