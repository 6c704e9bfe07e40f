import type { ServerName } from './layout.js';

/** What the start routines share during one `up` (or one fault helper). */
export interface StartContext {
  /** Bound on each server's readiness wait. */
  readonly timeoutMs: number;
  readonly progress: (line: string) => void;
  /** Servers this call started, as opposed to found running. */
  readonly started: Set<ServerName>;
  /** Whether we run as root (servers then drop to their own users where they need one). */
  readonly isRoot: boolean;
}

export function isRootUser(): boolean {
  return process.getuid?.() === 0;
}

/** Default bound on a server's graceful stop before SIGKILL. */
export const STOP_TIMEOUT_MS = 20_000;
