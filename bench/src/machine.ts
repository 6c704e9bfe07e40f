import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

/** The checkout a run measured. */
export interface GitCommit {
  /** `git rev-parse --short HEAD`. */
  readonly hash: string;
  /** Whether the work tree had uncommitted changes, so the hash alone does not name the code. */
  readonly dirty: boolean;
}

/** What a bench ran on: enough to tell two reports' machines apart, nothing identifying. */
export interface MachineInfo {
  /** Kernel name, release and architecture, e.g. `Linux 6.1.0 x64`. */
  readonly os: string;
  readonly cpuModel: string;
  /** CPUs this process may use. */
  readonly cpuCount: number;
  readonly memoryBytes: number;
  readonly node: string;
  /** Absent outside a git work tree, or where git is not installed. */
  readonly commit: GitCommit | undefined;
}

/** Runs a command in `cwd` and resolves to its stdout; rejects when it fails or is missing. */
export type RunCommand = (file: string, args: readonly string[], cwd: string) => Promise<string>;

const execFileAsync = promisify(execFile);

const runCommand: RunCommand = async (file, args, cwd) =>
  (await execFileAsync(file, args, { cwd })).stdout;

/** Describes this machine and the git checkout at `cwd`. */
export async function machineInfo(cwd: string, run: RunCommand = runCommand): Promise<MachineInfo> {
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuCount: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    commit: await gitCommit(cwd, run),
  };
}

async function gitCommit(cwd: string, run: RunCommand): Promise<GitCommit | undefined> {
  try {
    const [hash, status] = await Promise.all([
      run('git', ['rev-parse', '--short', 'HEAD'], cwd),
      run('git', ['status', '--porcelain'], cwd),
    ]);
    return { hash: hash.trim(), dirty: status.trim() !== '' };
  } catch {
    // No git, or not a checkout (a tarball, a container copy): the report goes without a commit.
    return undefined;
  }
}
