import { SandboxError, SandboxErrorCode } from './errors.js';
import type { SandboxOptions } from './types.js';

/**
 * Sandbox options from an environment (pure; the CLI and the test setup pass `process.env`):
 * `SWB_SANDBOX_DIR` (folder) and `SWB_SANDBOX_PORT_BASE` (first port).
 */
export function sandboxOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Pick<SandboxOptions, 'root' | 'portBase'> {
  const root = env.SWB_SANDBOX_DIR;
  const base = env.SWB_SANDBOX_PORT_BASE;
  let portBase: number | undefined;
  if (base !== undefined && base !== '') {
    portBase = Number(base);
    if (!/^\d+$/.test(base.trim())) {
      throw new SandboxError(
        SandboxErrorCode.badOption,
        `SWB_SANDBOX_PORT_BASE must be a port number; got ${JSON.stringify(base)}`,
      );
    }
  }
  return {
    ...(root === undefined || root === '' ? {} : { root }),
    ...(portBase === undefined ? {} : { portBase }),
  };
}
