import { fastify, LogController } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { SwitchboardError } from './errors.js';
import { composeComponents, defineComponent, type Component } from './lifecycle.js';
import type { Logger } from './logger.js';
import { runChecks, type CheckResult, type ReadinessCheck } from './readiness.js';
import { formatHostPort, type HostPort } from './uri.js';

export interface OpsServerOptions {
  readonly host: string;
  /** 0 picks a free port; `address()` tells which. */
  readonly port: number;
  readonly logger: Logger;
  /** The daemon's registry, served at `/metrics`; the server adds its `swb_` gauges to it. */
  readonly registry: Registry;
  readonly checks?: readonly ReadinessCheck[];
  /** Bound on each check; default 2000 ms. */
  readonly checkTimeoutMs?: number;
}

/** The body of `/readyz`. */
export interface ReadinessReport {
  readonly status: 'ready' | 'unready' | 'closing';
  readonly dependencies?: readonly CheckResult[];
}

export interface OpsServer extends Component {
  /** Where the server listens; throws before `start()` has resolved. */
  address(): HostPort;
  /**
   * From now on `/readyz` answers 503 `closing`, so load balancers stop sending work while the
   * daemon drains. `close()` does this too; a daemon calls it first, before closing the rest.
   */
  markClosing(): void;
  /** Runs the checks now (sharing a run already in flight) and updates the gauges. */
  readiness(): Promise<ReadinessReport>;
}

/**
 * The HTTP endpoint every daemon serves: `GET /healthz` (the process is alive), `GET /readyz`
 * (200 when every critical dependency answers, else 503, listing each dependency with its latency
 * and error; 503 `closing` while the daemon drains), `GET /metrics` (Prometheus text from the
 * daemon's registry, including `swb_ready`, `swb_dependency_up` and
 * `swb_dependency_check_seconds`). Checks run concurrently, each bounded by a timeout, on each
 * `/readyz` and each scrape.
 */
export function createOpsServer(options: OpsServerOptions): OpsServer {
  const checks = options.checks ?? [];
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const logger = options.logger.child({ component: 'ops' });
  let closing = false;
  let inFlight: Promise<readonly CheckResult[]> | undefined;
  let listening: HostPort | undefined;

  const ready = new Gauge({
    name: 'swb_ready',
    help: '1 when every critical dependency answers and the daemon is not closing',
    registers: [options.registry],
    collect: () => refresh().then(() => undefined),
  });
  const dependencyUp = new Gauge({
    name: 'swb_dependency_up',
    help: '1 when the dependency answered its last readiness check',
    labelNames: ['dependency', 'critical'] as const,
    registers: [options.registry],
    collect: () => refresh().then(() => undefined),
  });
  const checkSeconds = new Gauge({
    name: 'swb_dependency_check_seconds',
    help: 'Duration of the last readiness check of the dependency',
    labelNames: ['dependency'] as const,
    registers: [options.registry],
    collect: () => refresh().then(() => undefined),
  });

  /** One run at a time: a scrape and a probe arriving together share it. */
  function refresh(): Promise<readonly CheckResult[]> {
    inFlight ??= runChecks(checks, { timeoutMs })
      .then((results) => {
        for (const result of results) {
          dependencyUp.set(
            { dependency: result.name, critical: String(result.critical) },
            result.ok ? 1 : 0,
          );
          checkSeconds.set({ dependency: result.name }, result.latencyMs / 1000);
        }
        ready.set(!closing && isReady(results) ? 1 : 0);
        return results;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  async function readiness(): Promise<ReadinessReport> {
    if (closing) return { status: 'closing' };
    const dependencies = await refresh();
    return { status: isReady(dependencies) ? 'ready' : 'unready', dependencies };
  }

  const app = fastify({
    loggerInstance: logger,
    // Probes arrive every few seconds; logging each would drown the daemon's own lines.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const report = await readiness();
    return reply.code(report.status === 'ready' ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    try {
      const text = await options.registry.metrics();
      return await reply.type(options.registry.contentType).send(text);
    } catch (error) {
      logger.error({ err: error }, 'collecting metrics failed');
      return reply.code(500).type('text/plain').send('collecting metrics failed\n');
    }
  });

  const lifecycle = defineComponent({
    async start() {
      try {
        await app.listen({ host: options.host, port: options.port });
      } catch (cause) {
        throw new SwitchboardError(
          'SWB_OPS_LISTEN',
          `ops endpoint cannot listen on ${formatHostPort(options)}: ${cause instanceof Error ? cause.message : String(cause)}`,
          { cause },
        );
      }
      const address = app.server.address();
      if (address === null || typeof address === 'string') {
        throw new SwitchboardError('SWB_OPS_LISTEN', 'ops endpoint has no TCP address');
      }
      listening = { host: address.address, port: address.port };
      logger.info({ url: `http://${formatHostPort(listening)}` }, 'ops endpoint listening');
    },
    async close() {
      closing = true;
      ready.set(0);
      await app.close();
    },
    async destroy() {
      closing = true;
      app.server.closeAllConnections();
      await app.close();
    },
  });

  return {
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
    destroy: () => lifecycle.destroy(),
    markClosing() {
      closing = true;
      ready.set(0);
    },
    readiness,
    address() {
      if (listening === undefined) throw new Error('ops endpoint is not listening yet');
      return listening;
    },
  };
}

function isReady(results: readonly CheckResult[]): boolean {
  return results.every((result) => result.ok || !result.critical);
}

/**
 * A daemon made of an ops server and its working components: the ops server starts first (so
 * `/healthz` answers during startup) and closes last; on close, `/readyz` turns to `closing`
 * before anything else drains.
 */
export function composeDaemon(ops: OpsServer, components: readonly Component[] = []): Component {
  const all = composeComponents([ops, ...components]);
  return {
    start: () => all.start(),
    close() {
      ops.markClosing();
      return all.close();
    },
    destroy: () => all.destroy(),
  };
}
