import { hostname } from 'node:os';
import type { TObject } from 'typebox';
import { systemClock, type Clock } from './clock.js';
import {
  configFileEnv,
  describeConfig,
  loadConfig,
  type ConfigOf,
  type LoadedConfig,
  type RequiredWhen,
} from './config.js';
import { CloseTimeoutError, ConfigError } from './errors.js';
import { closeWithDeadline, type Component } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { createMetricsRegistry, type Registry } from './metrics.js';
import type { DaemonConfigProperties } from './schema.js';

/**
 * The part of Node's `process` that `runMain` uses. `main.ts` passes the real `process`; tests
 * pass a fake and assert on exit codes and output without spawning anything.
 */
export interface ProcessLike {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `[node, script, ...arguments]`, as in `process.argv`. */
  readonly argv?: readonly string[];
  readonly pid: number;
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  exitCode?: number | string | undefined;
  on(event: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  on(event: 'uncaughtException', listener: (error: Error) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  exit(code: number): void;
}

/** What `create` receives besides the config: everything it may touch outside itself. */
export interface DaemonDeps {
  /** A logger bound to `{ role, nodeId }`. */
  readonly logger: Logger;
  /** The daemon's own Prometheus registry, with process metrics already in it. */
  readonly registry: Registry;
  readonly clock: Clock;
}

/** The common part of every daemon's config, which `runMain` itself reads. */
export type DaemonConfig = ConfigOf<TObject<DaemonConfigProperties>>;

export interface RunMainOptions<S extends TObject<DaemonConfigProperties>> {
  /** `controller`, `queue`, `worker`, `sip-edge`: the log `name` and part of the default node id. */
  readonly role: string;
  readonly schema: S;
  readonly requiredWhen?: readonly RequiredWhen[];
  readonly create: (config: ConfigOf<S>, deps: DaemonDeps) => Component;
  /** For tests: the config file reader and the host name in the default node id. */
  readonly readFile?: (path: string) => string;
  readonly hostname?: string;
}

/** `EX_CONFIG` from sysexits(3): the configuration is wrong, restarting will not help. */
export const exitConfigError = 78;

/**
 * Runs a daemon as a process: loads and validates the config (a `ConfigError` prints each bad
 * variable to stderr and exits 78; `--help` prints every variable and exits 0), logs JSON to
 * stdout, builds the daemon with `create`, and starts it (a failure is logged and exits 1). On
 * SIGTERM or SIGINT it closes within `shutdownTimeoutMs` and exits 0, or destroys and exits 1 when
 * the deadline passes; a second signal destroys at once. An uncaught exception or unhandled
 * rejection is logged as fatal and exits 1 after the same bounded close.
 *
 * Why `process` is a parameter: this is the only function that exits, installs signal handlers or
 * reads the environment, and each daemon's `main.ts` is the only caller that passes the real
 * `process`. Library code never reaches for the global, so every daemon can be built and driven
 * in a test, and `runMain` itself is tested with a fake process.
 */
export async function runMain<S extends TObject<DaemonConfigProperties>>(
  proc: ProcessLike,
  options: RunMainOptions<S>,
): Promise<void> {
  const { role } = options;
  const argv = proc.argv?.slice(2) ?? [];
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    proc.exitCode = code;
    proc.exit(code);
  };

  if (argv.includes('--help') || argv.includes('-h')) {
    proc.stdout.write(formatHelp(role, options.schema, options.requiredWhen ?? []));
    exit(0);
    return;
  }

  let loaded: LoadedConfig<S>;
  try {
    loaded = loadConfig(options.schema, {
      env: proc.env,
      argvOverrides: argv,
      defaults: { nodeId: `${role}-${options.hostname ?? hostname()}-${proc.pid}` },
      ...(options.requiredWhen === undefined ? {} : { requiredWhen: options.requiredWhen }),
      ...(options.readFile === undefined ? {} : { readFile: options.readFile }),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      proc.stderr.write(`${role}: ${error.message}\n`);
      for (const warning of error.warnings)
        proc.stderr.write(`${role}: warning: ${warning.message}\n`);
      proc.stderr.write(`${role}: run with --help to list every variable\n`);
      exit(exitConfigError);
    } else {
      proc.stderr.write(`${role}: cannot load configuration: ${describeFailure(error)}\n`);
      exit(1);
    }
    return;
  }

  const { config } = loaded;
  // Sound because S extends TObject<DaemonConfigProperties>: TypeScript cannot see the common
  // fields through the generic StaticDecode<S>, but the schema guarantees them.
  const common = config as unknown as DaemonConfig;
  const logger = createLogger({
    level: common.logLevel,
    name: role,
    base: { role, nodeId: common.nodeId },
    destination: proc.stdout,
  });
  for (const warning of loaded.warnings) logger.warn({ key: warning.key }, warning.message);

  let daemon: Component;
  try {
    const registry = createMetricsRegistry({ labels: { role, node_id: common.nodeId } });
    daemon = options.create(config, { logger, registry, clock: systemClock });
  } catch (error) {
    logger.fatal({ err: error }, 'cannot build the daemon');
    exit(1);
    return;
  }

  let shutdown: Promise<void> | undefined;
  let failed = false;
  const closeAndExit = async (code: number): Promise<void> => {
    try {
      await closeWithDeadline(daemon, common.shutdownTimeoutMs);
      logger.info('closed');
      exit(failed ? 1 : code);
    } catch (error) {
      logger.error(
        { err: error },
        error instanceof CloseTimeoutError ? 'close timed out; destroyed' : 'close failed',
      );
      exit(1);
    }
  };
  const destroyAndExit = async (): Promise<void> => {
    try {
      await daemon.destroy();
    } catch (error) {
      logger.error({ err: error }, 'destroy failed');
    }
    exit(1);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shutdown !== undefined) {
      logger.warn({ signal }, 'second signal: destroying now');
      void destroyAndExit();
      return;
    }
    logger.info({ signal, timeoutMs: common.shutdownTimeoutMs }, 'closing');
    shutdown = closeAndExit(0);
  };
  const onFatal =
    (what: string) =>
    (error: unknown): void => {
      logger.fatal({ err: error }, what);
      failed = true;
      shutdown ??= closeAndExit(1);
    };
  proc.on('SIGTERM', onSignal);
  proc.on('SIGINT', onSignal);
  proc.on('uncaughtException', onFatal('uncaught exception'));
  proc.on('unhandledRejection', onFatal('unhandled rejection'));

  try {
    await daemon.start();
  } catch (error) {
    // A signal during start makes start fail on purpose; the shutdown in progress decides the code.
    if (shutdown !== undefined) return;
    logger.fatal({ err: error }, 'start failed');
    failed = true;
    shutdown = closeAndExit(1);
    return;
  }
  logger.info('started');
}

function describeFailure(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function formatHelp(role: string, schema: TObject, requiredWhen: readonly RequiredWhen[]): string {
  const rows = describeConfig(schema, { requiredWhen });
  const lines = rows.map((row) => {
    const need = row.requiredWhen
      ? `required when ${row.requiredWhen}`
      : row.required
        ? 'required'
        : row.default === undefined
          ? 'optional'
          : `default ${row.default}`;
    const about = row.description === undefined ? '' : `\n      ${row.description}`;
    return `  ${row.env} (${row.type}; ${need})${about}`;
  });
  return [
    `Usage: ${role} [--<path>=<value>...]`,
    '',
    `Configuration, from a JSON file named by ${configFileEnv}, then the environment:`,
    ...lines,
    '',
  ].join('\n');
}
