// Runs in a worker thread: the HTTP servers under load live on their own event loop,
// so autocannon (on the main thread) does not steal their time slices.
import { parentPort } from 'node:worker_threads';
import { pino } from 'pino';
import { fastify } from 'fastify';
import { createLogger, createMetricsRegistry, createOpsServer } from '@switchboard/runtime';

if (parentPort === null) throw new Error('http-targets.js must run in a worker thread');
const port = parentPort;

const silent = pino({ level: 'silent' });
const ops = createOpsServer({
  host: '127.0.0.1',
  port: 0,
  logger: createLogger({ level: 'silent' }),
  registry: createMetricsRegistry(),
  checks: [],
});
await ops.start();

const bare = fastify({ loggerInstance: silent });
bare.get('/healthz', () => ({ status: 'ok' }));
await bare.listen({ host: '127.0.0.1', port: 0 });
const bareAddress = bare.server.address();
if (bareAddress === null || typeof bareAddress === 'string') throw new Error('no bare address');

port.postMessage({
  ops: `http://127.0.0.1:${ops.address().port}/healthz`,
  bare: `http://127.0.0.1:${bareAddress.port}/healthz`,
});
port.once('message', () => {
  void Promise.all([ops.close(), bare.close()]).then(() => {
    port.close();
  });
});
