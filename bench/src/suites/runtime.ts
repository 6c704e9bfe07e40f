import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { pino } from 'pino';
import { createLogger } from '@switchboard/runtime';
import { Better, type BenchSuite } from '../harness.js';
import { httpRequestsPerSecond, opsPerSecond } from '../measure.js';

/** A log line as the SIP edge writes one per request: a child with bindings, a few fields. */
function logLoop(logger: pino.Logger, batch: number): () => Promise<void> {
  const child = logger.child({ callId: 'a84b4c76e66710', nodeId: 'sip-edge-1' });
  return () => {
    for (let i = 0; i < batch; i++) {
      child.info(
        { from: 'sip:alice@example.com', to: 'sip:bob@example.com', status: 200 },
        'routed',
      );
    }
    // Yield so the sample's clock and the stream both get a turn.
    return new Promise((resolve) => setImmediate(resolve));
  };
}

/**
 * The shared runtime's hot paths: the logger every request goes through, and the ops
 * endpoint a load balancer polls.
 */
export const runtimeSuite: BenchSuite = {
  name: 'runtime',
  description: 'the shared runtime: redacting logger vs plain pino; /healthz vs bare fastify',
  async setup(context) {
    const batch = 1000;
    const devNull = (): pino.DestinationStream =>
      pino.destination({ dest: '/dev/null', sync: true });
    const ours = createLogger({ level: 'info', name: 'bench', destination: devNull() });
    const plain = pino({ level: 'info', name: 'bench' }, devNull());

    const targets = new Worker(new URL('./http-targets.js', import.meta.url));
    const [urls] = (await once(targets, 'message')) as [{ ops: string; bare: string }];
    const load = (url: string) => () =>
      httpRequestsPerSecond({ url, durationMs: context.sampleMs, connections: 10 });

    return {
      cases: [
        {
          name: 'log-info',
          unit: 'lines/s',
          better: Better.Higher,
          sample: async () =>
            batch *
            (await opsPerSecond(logLoop(ours, batch), {
              durationMs: context.sampleMs,
              concurrency: 1,
            })),
          baselines: [
            {
              name: 'pino',
              sample: async () =>
                batch *
                (await opsPerSecond(logLoop(plain, batch), {
                  durationMs: context.sampleMs,
                  concurrency: 1,
                })),
            },
          ],
        },
        {
          name: 'healthz',
          unit: 'req/s',
          better: Better.Higher,
          sample: load(urls.ops),
          baselines: [{ name: 'bare-fastify', sample: load(urls.bare) }],
        },
      ],
      async close() {
        targets.postMessage('close');
        await once(targets, 'exit');
      },
    };
  },
};
