import { gtidCovers, type GtidPosition } from './gtid.js';

interface Sample {
  readonly position: GtidPosition;
  readonly at: number;
}

const MAX_SAMPLES = 1024;

/**
 * Turns GTID positions into lag in milliseconds: it remembers when the primary was first seen at
 * each position, and a replica's lag is the age of the oldest such position it has not applied
 * (zero when it has applied the newest). Seconds_Behind_Master cannot serve: it is NULL while the
 * SQL thread is stopped, and counts whole seconds.
 */
export class LagClock {
  private readonly samples: Sample[] = [];

  /** The primary's position as a poll saw it at `at` (performance.now()). */
  record(position: GtidPosition, at: number): void {
    const last = this.samples.at(-1);
    if (last !== undefined && gtidCovers(last.position, position)) return;
    this.samples.push({ position, at });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  lagOf(position: GtidPosition, now: number): number {
    for (const sample of this.samples) {
      if (!gtidCovers(position, sample.position)) return now - sample.at;
    }
    return 0;
  }

  /** Forgets the positions every live replica has passed: they can no longer measure any lag. */
  trim(replicas: readonly GtidPosition[]): void {
    let drop = 0;
    while (drop < this.samples.length - 1) {
      const sample = this.samples[drop];
      if (sample === undefined || !replicas.every((p) => gtidCovers(p, sample.position))) break;
      drop++;
    }
    if (drop > 0) this.samples.splice(0, drop);
  }
}
