import { Writable } from 'node:stream';
import {
  createLogger,
  createMetricsRegistry,
  loadConfig,
  systemClock,
  type Clock,
} from '@switchboard/runtime';
import { platformDefaults, type SandboxInfo } from '@switchboard/sandbox';
import { uniqueName } from '@switchboard/sandbox/testing';
import {
  controllerConfigSchema,
  createControllerDaemon,
  type ControllerConfig,
  type ControllerDaemon,
} from '../src/index.js';

export const adminToken = 'admin-token-0123456789abcdef';
export const joinToken = 'join-token-0123456789abcdef';

/** Logs kept in memory, so a test can look for a token that must never appear. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(chunk.toString());
    done();
  }
  get text(): string {
    return this.lines.join('');
  }
}

export interface TestController {
  readonly daemon: ControllerDaemon;
  readonly url: string;
  readonly config: ControllerConfig;
  readonly logs: LogCapture;
  /** fetch against the API with a token (admin by default). */
  call(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** A config for the sandbox's servers, with the API and ops on free ports. */
export function controllerConfig(
  info: SandboxInfo,
  namespace: string,
  env: Record<string, string> = {},
): ControllerConfig {
  return loadConfig(controllerConfigSchema, {
    env: {
      ...platformDefaults(info),
      SWB_NODE_ID: uniqueName('ctl'),
      SWB_OPS_PORT: '0',
      SWB_API_PORT: '0',
      SWB_API_ADMIN_TOKEN: adminToken,
      SWB_API_JOIN_TOKEN: joinToken,
      SWB_REGISTRY_NAMESPACE: namespace,
      SWB_LEADER_RECONCILE_INTERVAL_MS: '250',
      ...env,
    },
  }).config;
}

export async function startController(
  info: SandboxInfo,
  namespace: string,
  env: Record<string, string> = {},
  clock: Clock = systemClock,
): Promise<TestController> {
  const config = controllerConfig(info, namespace, env);
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', destination: logs });
  const daemon = createControllerDaemon(config, {
    logger,
    registry: createMetricsRegistry(),
    clock,
  });
  await daemon.start();
  const url = daemon.url();
  return {
    daemon,
    url,
    config,
    logs,
    call(path, init = {}) {
      const { token = adminToken, headers, ...rest } = init;
      const all = new Headers(headers);
      if (token !== null) all.set('authorization', `Bearer ${token}`);
      if (rest.body !== undefined && !all.has('content-type')) {
        all.set('content-type', 'application/json');
      }
      return fetch(`${url}${path}`, { ...rest, headers: all });
    },
    close: () => daemon.close(),
  };
}

/** A node registration a test can send. */
export function registration(id: string, roles: string[] = ['worker'], extra: object = {}) {
  return JSON.stringify({ id, roles, address: '127.0.0.1:9', version: '0.1.0', ...extra });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
