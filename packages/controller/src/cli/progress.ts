import cliProgress from 'cli-progress';

/** Where the CLI writes: `process.stdout` in the executable, a buffer in tests. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/** A progress display: a redrawn bar on a terminal, one line per change otherwise. */
export interface ProgressDisplay {
  update(done: number, total: number, detail: string): void;
  /** Leaves the last state on screen; safe to call twice. */
  stop(): void;
}

/**
 * A bar (cli-progress) when `out` is a terminal; plain lines, written only when the figures
 * change, when it is a pipe or a file, so logs and CI output stay readable.
 */
export function createProgress(out: OutputStream, label: string, unit: string): ProgressDisplay {
  return out.isTTY === true ? new BarDisplay(out, label, unit) : new LineDisplay(out, label, unit);
}

class LineDisplay implements ProgressDisplay {
  private last = '';

  constructor(
    private readonly out: OutputStream,
    private readonly label: string,
    private readonly unit: string,
  ) {}

  update(done: number, total: number, detail: string): void {
    const line = `${this.label}: ${done}/${total} ${this.unit}${detail === '' ? '' : `, ${detail}`}`;
    if (line === this.last) return;
    this.last = line;
    this.out.write(`${line}\n`);
  }

  stop(): void {
    // Every change is already on its own line.
  }
}

class BarDisplay implements ProgressDisplay {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  private stopped = false;

  constructor(out: OutputStream, label: string, unit: string) {
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit}, {detail}`,
        // cli-progress only needs write() and the TTY fields; a real terminal stream has them.
        stream: out as NodeJS.WritableStream,
        barsize: 30,
        hideCursor: false,
        clearOnComplete: false,
        stopOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(done: number, total: number, detail: string): void {
    if (this.stopped) return;
    if (!this.started) {
      this.started = true;
      this.bar.start(total, done, { detail });
      return;
    }
    if (total !== this.bar.getTotal()) this.bar.setTotal(total);
    this.bar.update(done, { detail });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.started) this.bar.stop();
  }
}
