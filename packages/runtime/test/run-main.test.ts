import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  Type,
  daemonConfigProperties,
  runMain,
  type Component,
  type DaemonDeps,
  type ProcessLike,
} from '../src/index.js';

class FakeProcess extends EventEmitter implements ProcessLike {
  readonly pid = 4242;
  readonly argv: readonly string[];
  exitCode: number | string | undefined;
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly stdout = { write: (chunk: string) => this.out.push(chunk) };
  readonly stderr = { write: (chunk: string) => this.err.push(chunk) };
  readonly exits: number[] = [];
  readonly exited: Promise<number>;
  #resolveExit: (code: number) => void = () => undefined;

  constructor(
    readonly env: Record<string, string>,
    args: readonly string[] = [],
  ) {
    super();
    this.argv = ['node', 'main.js', ...args];
    this.exited = new Promise((resolve) => (this.#resolveExit = resolve));
  }

  exit(code: number): void {
    this.exits.push(code);
    this.#resolveExit(code);
  }

  logs(): Record<string, unknown>[] {
    return this.out.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

const schema = Type.Object({
  ...daemonConfigProperties(9400),
  upstream: Type.String({ minLength: 1 }),
});

const validEnv = { SWB_UPSTREAM: 'a', SWB_SHUTDOWN_TIMEOUT_MS: '50' };

interface FakeDaemon extends Component {
  readonly calls: string[];
}

function fakeDaemon(behaviour: { closeNever?: boolean; failStart?: boolean } = {}): FakeDaemon {
  const calls: string[] = [];
  return {
    calls,
    start() {
      calls.push('start');
      return behaviour.failStart === true
        ? Promise.reject(new Error('port in use'))
        : Promise.resolve();
    },
    close() {
      calls.push('close');
      return behaviour.closeNever === true ? new Promise<void>(() => undefined) : Promise.resolve();
    },
    destroy() {
      calls.push('destroy');
      return Promise.resolve();
    },
  };
}

async function run(proc: FakeProcess, daemon: FakeDaemon = fakeDaemon()) {
  let seen: { config: unknown; deps: DaemonDeps } | undefined;
  await runMain(proc, {
    role: 'test',
    schema,
    hostname: 'box',
    create: (config, deps) => {
      seen = { config, deps };
      return daemon;
    },
  });
  return { daemon, seen };
}

describe('runMain', () => {
  it('exits 78 and names each bad variable on stderr when the config is invalid', async () => {
    const proc = new FakeProcess({ SWB_OPS_PORT: 'abc' });
    const { seen } = await run(proc);
    expect(proc.exits).toEqual([78]);
    expect(proc.exitCode).toBe(78);
    const stderr = proc.err.join('');
    expect(stderr).toContain('SWB_OPS_PORT: expected integer, got "abc"');
    expect(stderr).toContain('SWB_UPSTREAM is required');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(seen).toBeUndefined();
  });

  it('prints every variable for --help and exits 0', async () => {
    const proc = new FakeProcess({}, ['--help']);
    await run(proc);
    expect(proc.exits).toEqual([0]);
    expect(proc.out.join('')).toContain('SWB_UPSTREAM (string; required)');
    expect(proc.out.join('')).toContain('SWB_OPS_PORT (integer; default 9400)');
  });

  it('builds the daemon with the config, a bound logger and its own registry, then starts it', async () => {
    const proc = new FakeProcess(validEnv);
    const { daemon, seen } = await run(proc);
    expect(daemon.calls).toEqual(['start']);
    expect(seen?.config).toMatchObject({ nodeId: 'test-box-4242', upstream: 'a' });
    expect(seen?.deps.registry.getSingleMetric('process_cpu_user_seconds_total')).toBeDefined();
    seen?.deps.logger.info('hello');
    expect(proc.logs().at(-1)).toMatchObject({
      role: 'test',
      nodeId: 'test-box-4242',
      msg: 'hello',
    });
    expect(proc.exits).toEqual([]);
  });

  it('logs unknown SWB_ variables as warnings and keeps running', async () => {
    const proc = new FakeProcess({ ...validEnv, SWB_OPS_PROT: '1' });
    await run(proc);
    expect(proc.logs()).toContainEqual(expect.objectContaining({ level: 40, key: 'SWB_OPS_PROT' }));
    expect(proc.exits).toEqual([]);
  });

  it('closes on SIGTERM and exits 0 after a clean drain', async () => {
    const proc = new FakeProcess(validEnv);
    const { daemon } = await run(proc);
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(daemon.calls).toEqual(['start', 'close']);
  });

  it('destroys and exits 1 when close outlasts shutdownTimeoutMs', async () => {
    const proc = new FakeProcess(validEnv);
    const { daemon } = await run(proc, fakeDaemon({ closeNever: true }));
    proc.emit('SIGINT', 'SIGINT');
    expect(await proc.exited).toBe(1);
    expect(daemon.calls).toEqual(['start', 'close', 'destroy']);
    expect(proc.logs().at(-1)).toMatchObject({
      msg: 'close timed out; destroyed',
      err: { code: 'SWB_CLOSE_TIMEOUT' },
    });
  });

  it('destroys at once on a second signal', async () => {
    const proc = new FakeProcess({ ...validEnv, SWB_SHUTDOWN_TIMEOUT_MS: '60000' });
    const { daemon } = await run(proc, fakeDaemon({ closeNever: true }));
    proc.emit('SIGTERM', 'SIGTERM');
    proc.emit('SIGTERM', 'SIGTERM');
    expect(await proc.exited).toBe(1);
    expect(daemon.calls).toEqual(['start', 'close', 'destroy']);
  });

  it('logs a failed start with the error and exits 1', async () => {
    const proc = new FakeProcess(validEnv);
    await run(proc, fakeDaemon({ failStart: true }));
    expect(await proc.exited).toBe(1);
    expect(proc.logs()).toContainEqual(
      expect.objectContaining({
        level: 60,
        msg: 'start failed',
        err: expect.objectContaining({ message: 'port in use' }) as unknown,
      }),
    );
  });

  it('logs an uncaught exception as fatal, closes within the deadline and exits 1', async () => {
    const proc = new FakeProcess(validEnv);
    const { daemon } = await run(proc);
    proc.emit('uncaughtException', new Error('bug'));
    expect(await proc.exited).toBe(1);
    expect(daemon.calls).toEqual(['start', 'close']);
    expect(proc.logs()).toContainEqual(
      expect.objectContaining({ level: 60, msg: 'uncaught exception' }),
    );
  });

  it('exits 1 on an unhandled rejection even though the close is clean', async () => {
    const proc = new FakeProcess(validEnv);
    await run(proc);
    proc.emit('unhandledRejection', new Error('forgotten promise'));
    expect(await proc.exited).toBe(1);
  });
});
