export { queueConfigSchema, queueOpsPort, type QueueConfig } from './config.js';
export { createQueueDaemon } from './daemon.js';

// The catalogues of events and tasks the roles share.
export * from './catalogue/index.js';
