export { sipEdgeConfigSchema, sipEdgeOpsPort, type SipEdgeConfig } from './config.js';
export { createSipEdgeDaemon } from './daemon.js';
