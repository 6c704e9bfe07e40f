export { controllerConfigSchema, controllerOpsPort, type ControllerConfig } from './config.js';
export { createControllerDaemon } from './daemon.js';
