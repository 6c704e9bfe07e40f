// Global setup of the `integration` and `faults` projects: brings the sandbox up (or reuses it) and provides
// its SandboxInfo to tests as `inject('sandbox')`. Servers this run started are stopped at the
// end unless SWB_SANDBOX_KEEP=1; servers that were already running are left alone.
import type { TestProject } from 'vitest/node';
import { down, ensureUp, sandboxOptionsFromEnv } from '../src/index.js';
import type {} from '../src/testing.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const options = sandboxOptionsFromEnv(process.env);
  const write = (line: string): void => {
    process.stderr.write(`[sandbox] ${line}\n`);
  };
  const { info, started } = await ensureUp({ ...options, onProgress: write });
  project.provide('sandbox', info);
  return async () => {
    if (started.length === 0) return;
    if (process.env.SWB_SANDBOX_KEEP === '1') {
      write(`SWB_SANDBOX_KEEP=1: leaving the ${started.length} servers this run started running`);
      return;
    }
    await down({ ...options, servers: started, onProgress: write });
  };
}
