import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { WorkerSpoolPathError } from './errors.js';

/** Whether `child` (absolute, normalised) is `parent` itself or below it. */
function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * The absolute path of a spool file, refusing anything that leaves the spool directory: an
 * absolute path, a `..` segment, a NUL byte. Pure (no I/O); `checkSpoolFile` then also refuses a
 * symlink out. The catalogue's schema refuses these already; this is the second lock on the door.
 */
export function resolveSpoolPath(spoolDir: string, spoolPath: string): string {
  if (spoolPath.includes('\0')) throw new WorkerSpoolPathError(spoolPath, 'contains a NUL byte');
  if (isAbsolute(spoolPath) || spoolPath.startsWith('\\')) {
    throw new WorkerSpoolPathError(spoolPath, 'is absolute; it must be relative to the spool');
  }
  const root = resolve(spoolDir);
  const full = resolve(root, spoolPath);
  if (!isInside(root, full)) {
    throw new WorkerSpoolPathError(spoolPath, 'resolves outside the spool directory');
  }
  return full;
}

/**
 * Resolves symlinks on both sides and checks the file is still inside the spool directory.
 * Returns the real path; rejects with the file system's error (ENOENT) when it does not exist.
 */
export async function checkSpoolFile(spoolDir: string, spoolPath: string): Promise<string> {
  const full = resolveSpoolPath(spoolDir, spoolPath);
  const [root, real] = await Promise.all([realpath(spoolDir), realpath(full)]);
  if (!isInside(root, real)) {
    throw new WorkerSpoolPathError(spoolPath, 'is a symlink out of the spool directory');
  }
  return real;
}
