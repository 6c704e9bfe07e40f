import { SandboxError, SandboxErrorCode } from './errors.js';
import type { ServerPaths } from './layout.js';
import { probePort } from './process.js';

/**
 * Throws when the server's port answers although none of our processes owns it: another program
 * took the port, and starting ours would only fail later with a less helpful message.
 */
export async function checkFreePort(server: ServerPaths, port = server.port): Promise<void> {
  if (await probePort(port)) {
    throw new SandboxError(
      SandboxErrorCode.portInUse,
      `${server.name}: port ${port} is in use by a process the sandbox did not start ` +
        `(no live pid in ${server.pidFile}); stop it, or choose another port base ` +
        `(SWB_SANDBOX_PORT_BASE)`,
      { server: server.name },
    );
  }
}
