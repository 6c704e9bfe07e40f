export { queueConfigSchema, queueOpsPort, type QueueConfig } from './config.js';
export { createQueueDaemon } from './daemon.js';
