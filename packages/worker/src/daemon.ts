import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClosedError,
  anyOfCheck,
  composeDaemon,
  createDaemonControllerClient,
  createOpsServer,
  defineComponent,
  directoryCheck,
  isRetryable,
  redisCheck,
  sqlChecks,
  uriCheck,
  type Component,
  type DaemonDeps,
  type ReadinessCheck,
  type Topology,
} from '@switchboard/runtime';
import {
  createBlobStore,
  createSearch,
  createSqlRouter,
  migrate,
  followControllerTopology,
  type BlobStore,
  type Search,
  type SearchDeps,
  type SqlRouter,
  type SqlTopology,
} from '@switchboard/storage';
import { retryDelay } from './backoff.js';
import type { WorkerConfig } from './config.js';
import { createTaskRegistry, type AnyTaskDefinition } from './registry.js';
import { createTaskWorker, type TaskWorker } from './runner.js';
import { workerMigrations } from './sql.js';
import { platformTasks } from './tasks.js';

// Read once at load: the version a node registers with is the package it runs from.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

// workerRequiredWhen makes the loader reject a config without these, so the throws only guard
// against a config built by hand.
function blobCheck(blob: WorkerConfig['blob']): ReadinessCheck {
  switch (blob.driver) {
    case 'posix':
      if (blob.root === undefined)
        throw new TypeError('blob.root is required for the posix driver');
      return directoryCheck('blob', blob.root);
    case 's3':
      if (blob.s3.endpoint === undefined) {
        throw new TypeError('blob.s3.endpoint is required for the s3 driver');
      }
      return uriCheck('blob', blob.s3.endpoint);
  }
}

function searchCheck(search: WorkerConfig['search'], injected: boolean): ReadinessCheck {
  if (search.node.length === 0) {
    return {
      name: 'search',
      target: injected
        ? 'injected client'
        : 'not configured (SWB_SEARCH_NODE unset): CDRs are not indexed',
      critical: false,
      check: () => Promise.resolve(),
    };
  }
  return anyOfCheck(
    'search',
    search.node.map((node, i) => uriCheck(`search.node[${i}]`, node)),
    { critical: false },
  );
}

/** What the worker daemon takes besides `runMain`'s deps; tests inject these. */
export interface WorkerDaemonDeps extends DaemonDeps {
  /** An Elasticsearch client (tests: over `@elastic/elasticsearch-mock`); enables search. */
  readonly searchClient?: SearchDeps['client'];
  /** Tasks to run beside (or instead of, by name) the platform's. */
  readonly extraTasks?: readonly AnyTaskDefinition[];
}

/**
 * The worker daemon: the ops endpoint (`/readyz` checks Redis, the SQL primary and replicas, the
 * blob store, the spool directory and, not critically, search), and the task runner. On start it
 * creates the spool directory if missing, applies the worker's SQL migrations (under
 * `migrate()`'s lock, so workers starting together are safe), upserts the repeatable schedules
 * and starts taking jobs. On close it stops taking jobs and lets the active ones finish within
 * the daemon's `shutdownTimeoutMs`; what a SIGKILL interrupts is recovered by BullMQ's stalled
 * job check on another worker once the lock (`queue.lockDurationMs`) expires.
 *
 * With `controller.urls` set, the worker registers once it takes jobs, reports its active jobs
 * with each heartbeat, stops taking jobs while an operator drains it, and gives its SQL router the
 * replicas the controller reports healthy (`sqlTopologyFromController`). Without a controller,
 * or while none answers, it runs on its configuration alone.
 */
export function createWorkerDaemon(config: WorkerConfig, deps: WorkerDaemonDeps): Component {
  const logger = deps.logger;
  const searchEnabled = config.search.node.length > 0 || deps.searchClient !== undefined;
  const checks = [
    redisCheck(config.redis),
    ...sqlChecks(config.sql),
    blobCheck(config.blob),
    directoryCheck('spool', config.spool.dir),
    searchCheck(config.search, deps.searchClient !== undefined),
  ];
  const ops = createOpsServer({
    host: config.ops.host,
    port: config.ops.port,
    logger,
    registry: deps.registry,
    checks,
  });

  let sql: SqlRouter | undefined;
  let blob: BlobStore | undefined;
  let search: Search | undefined;
  let tasks: TaskWorker | undefined;

  async function closeStorage(): Promise<void> {
    const results = await Promise.allSettled([search?.close(), blob?.close(), sql?.close()]);
    for (const result of results) {
      if (result.status === 'rejected')
        logger.warn({ err: result.reason }, 'closing storage failed');
    }
  }

  // Aborted by close/destroy, so a start still waiting for its servers gives up at once.
  const stopping = new AbortController();
  const closedWhileStarting = (): ClosedError => new ClosedError('closed while starting');

  /** Runs `step` until it succeeds or fails for good; the servers may come up after the worker. */
  async function patiently<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (stopping.signal.aborted) throw closedWhileStarting();
        if (!isRetryable(error)) throw error;
        const retryInMs = retryDelay(
          attempt,
          { baseDelayMs: 500, maxDelayMs: 10_000 },
          Math.random,
        );
        logger.warn({ err: error, retryInMs }, `${what}: not available yet; retrying`);
        try {
          await sleep(retryInMs, undefined, { signal: stopping.signal });
        } catch {
          throw closedWhileStarting();
        }
      }
    }
  }

  /** Resolves with `promise`, or rejects with ClosedError as soon as the daemon is closed. */
  function unlessStopped<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onStop = (): void => {
        reject(closedWhileStarting());
      };
      if (stopping.signal.aborted) onStop();
      stopping.signal.addEventListener('abort', onStop, { once: true });
      promise.then(resolve, reject).finally(() => {
        stopping.signal.removeEventListener('abort', onStop);
      });
    });
  }

  const lifecycle = defineComponent({
    async start() {
      try {
        await startRunner();
      } catch (error) {
        // close() only drains a component whose start succeeded: release what start opened.
        await tasks?.destroy();
        await closeStorage();
        throw error;
      }
    },
    async close() {
      try {
        await tasks?.close();
      } finally {
        await closeStorage();
      }
    },
    async destroy() {
      try {
        await tasks?.destroy();
      } finally {
        await Promise.allSettled([search?.close(), blob?.destroy(), sql?.destroy()]);
      }
    },
  });

  async function startRunner(): Promise<void> {
    await mkdir(config.spool.dir, { recursive: true });
    sql = createSqlRouter({
      primary: config.sql.primary,
      replicas: config.sql.replicas,
      // UTC in and out, as strings: no local time zone ever shifts a CDR's times.
      pool: { timezone: 'Z', dateStrings: true },
      registry: deps.registry,
      logger,
    });
    const router = sql;
    const migrated = await patiently('SQL primary', () =>
      migrate(router, [workerMigrations], { logger }),
    );
    logger.info({ applied: migrated.applied, skipped: migrated.skipped }, 'worker tables ready');
    blob = createBlobStore(config.blob);
    if (searchEnabled) {
      search = createSearch(
        {
          node: config.search.node,
          indexPrefix: config.search.indexPrefix,
          ...(config.search.apiKey === undefined ? {} : { auth: { apiKey: config.search.apiKey } }),
        },
        deps.searchClient === undefined ? {} : { client: deps.searchClient },
      );
    } else {
      logger.warn(
        'search is not configured (SWB_SEARCH_NODE unset): cdr.index stores CDRs in SQL only, search.reindex fails',
      );
    }
    const platform = platformTasks(
      {
        sql,
        blob,
        search,
        spoolDir: config.spool.dir,
        clock: deps.clock,
        logger,
        purgeBatchSize: config.schedules.retentionPurgeBatchSize,
        stepDelayMs: config.debug.stepDelayMs,
      },
      {
        'cdr.index': { concurrency: config.concurrency.cdrIndex },
        'blob.ingest': { concurrency: config.concurrency.blobIngest },
        'retention.purge': { concurrency: config.concurrency.retentionPurge },
        'search.reindex': { concurrency: config.concurrency.searchReindex },
      },
    );
    const extra = deps.extraTasks ?? [];
    const names = new Set(extra.map((task) => task.name));
    tasks = createTaskWorker({
      redisUrl: config.redis.url,
      queueName: config.queue.name,
      prefix: config.queue.prefix,
      tasks: createTaskRegistry([...platform.filter((t) => !names.has(t.name)), ...extra]),
      concurrency: config.concurrency.total,
      lockDurationMs: config.queue.lockDurationMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
      maxStalledCount: config.queue.maxStalledCount,
      schedules: [
        {
          id: 'retention.purge',
          task: 'retention.purge',
          payload: { batchSize: config.schedules.retentionPurgeBatchSize },
          everyMs: config.schedules.retentionPurgeEveryMs,
        },
      ],
      logger,
      metrics: deps.registry,
      workerName: config.nodeId,
    });
    // BullMQ waits for Redis by itself (reconnecting); a close meanwhile stops the wait.
    await unlessStopped(tasks.start());
  }

  // The controller's view of the SQL replicas replaces the configured one while it has SQL data;
  // the primary stays the configured one (see sqlTopologyFromController).
  const configuredSql: SqlTopology = { primary: config.sql.primary, replicas: config.sql.replicas };
  let follower: ReturnType<typeof followControllerTopology> | undefined;

  function applyTopology(topology: Topology): void {
    const router = sql;
    if (router === undefined) return;
    follower ??= followControllerTopology(router, configuredSql, logger);
    follower.apply(topology);
  }

  // The drain flag the controller wants, and the loop bringing the BullMQ worker to it. Changes
  // are applied one at a time: a resume during a pause that still waits for active jobs would
  // leave BullMQ's blocking connection closed under a running loop.
  let wantDrained = false;
  let applyingDrain: Promise<void> | undefined;

  async function settleDrain(): Promise<void> {
    try {
      for (;;) {
        const worker = tasks?.worker;
        if (worker === undefined || worker.isPaused() === wantDrained) return;
        if (wantDrained) {
          logger.info(
            { activeJobs: tasks?.activeJobs ?? 0 },
            'drained: taking no new jobs; the active ones finish',
          );
          // pause() (not pause(true)): it also cuts the blocking fetch in progress, which would
          // otherwise still take the next job; it resolves once the active jobs have finished.
          await worker.pause();
          logger.info('drained: no job running');
        } else {
          await worker.resume();
          logger.info('undrained: taking jobs again');
        }
      }
    } catch (error) {
      logger.warn(
        { err: error, drained: wantDrained },
        'cannot apply the drain flag to the job worker',
      );
    } finally {
      applyingDrain = undefined;
    }
  }

  function applyDrain(drained: boolean): void {
    wantDrained = drained;
    applyingDrain ??= settleDrain();
  }

  // Composed after the runner: it starts once the worker takes jobs (and the ops server listens,
  // so it registers the bound port), and closes first, so the node leaves the topology before
  // it stops taking jobs.
  const controller = createDaemonControllerClient(
    config.controller,
    {
      role: 'worker',
      nodeId: config.nodeId,
      version,
      ops,
      opsHost: config.ops.host,
      load: () => ({ activeJobs: tasks?.activeJobs ?? 0 }),
    },
    { logger },
  );
  controller?.on('topology', applyTopology);
  controller?.on('drained', applyDrain);

  logger.info(
    { dependencies: checks.map((c) => ({ name: c.name, target: c.target })) },
    'worker daemon built',
  );
  const daemon = composeDaemon(
    ops,
    controller === undefined ? [lifecycle] : [lifecycle, controller],
  );
  // A close must reach a start still waiting for its servers: composeDaemon's close waits for
  // start to settle first, so the abort goes out before it.
  return {
    start: () => daemon.start(),
    close() {
      stopping.abort();
      return daemon.close();
    },
    destroy() {
      stopping.abort();
      return daemon.destroy();
    },
  };
}
