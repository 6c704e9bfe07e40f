import { EventEmitter } from 'node:events';
import type { Clock, Logger } from '@switchboard/runtime';
import type { ControllerStore, LeaderRecord } from './store.js';

export interface LeaderElectionOptions {
  readonly store: ControllerStore;
  readonly nodeId: string;
  /** This controller's API URL, written into the lease for followers to name the leader. */
  readonly url: string;
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface LeaderElectionEvents {
  elected: [LeaderRecord];
  deposed: [reason: string];
}

/**
 * One leader among the controllers: a kv record with a TTL, taken with SET NX and renewed with
 * compare-and-set every quarter of the TTL. Each election draws a new fencing token, which the
 * leader's writes carry (see `ControllerStore.writeTopology`) so a leader that stalled past its
 * lease cannot act after its successor started.
 *
 * A leader that cannot renew (the store does not answer) steps down on its own once 3/4 of the
 * TTL passed since its last renewal, before anyone else can take over: two controllers never
 * both believe they lead, and the fence catches whatever a paused process still tries.
 */
export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  private readonly options: LeaderElectionOptions;
  private mine: LeaderRecord | undefined;
  private lastKnown: LeaderRecord | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(options: LeaderElectionOptions) {
    super();
    this.options = options;
  }

  get isLeader(): boolean {
    return this.mine !== undefined;
  }

  /** Our lease while we lead. */
  get lease(): LeaderRecord | undefined {
    return this.mine;
  }

  /** The leader as last seen: ours, or the one that held the lease when we last tried. */
  get leader(): LeaderRecord | undefined {
    return this.mine ?? this.lastKnown;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Runs one round now (tests, and the first round at start). */
  round(): Promise<void> {
    this.running ??= this.campaign().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Gives the lease up (a fenced write showed someone else leads). */
  stepDown(reason: string): void {
    if (this.mine === undefined) return;
    this.options.logger.warn({ fence: this.mine.fence, reason }, 'stepping down as leader');
    this.mine = undefined;
    this.emit('deposed', reason);
  }

  /** Stops campaigning and releases the lease, so another controller takes over at once. */
  async close(): Promise<void> {
    this.halt();
    await this.running;
    const mine = this.mine;
    if (mine === undefined) return;
    this.mine = undefined;
    this.emit('deposed', 'closing');
    try {
      await this.options.store.releaseLeader(mine);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not release the leader lease; it expires');
    }
  }

  /** Stops without releasing, as a crash would: the lease runs out on its own. */
  destroy(): void {
    this.halt();
    if (this.mine !== undefined) {
      this.mine = undefined;
      this.emit('deposed', 'destroyed');
    }
  }

  private halt(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round().finally(() => {
        this.schedule(Math.max(50, Math.floor(this.options.ttlMs / 4)));
      });
    }, delayMs);
    this.timer.unref();
  }

  private async campaign(): Promise<void> {
    const { store, clock, ttlMs, logger } = this.options;
    const now = clock.now();
    try {
      if (this.mine !== undefined) {
        const renewed = await store.renewLeader(this.mine, ttlMs, now);
        if (this.stopped) return;
        if (renewed === undefined) {
          this.stepDown('the lease was lost (expired or taken)');
        } else {
          this.mine = renewed;
        }
        return;
      }
      const taken = await store.acquireLeader(this.options.nodeId, this.options.url, ttlMs, now);
      if (this.stopped) {
        if (taken !== undefined) await store.releaseLeader(taken);
        return;
      }
      if (taken !== undefined) {
        this.mine = taken;
        logger.info({ fence: taken.fence }, 'elected leader');
        this.emit('elected', taken);
      } else {
        this.lastKnown = await store.readLeader();
      }
    } catch (error) {
      const mine = this.mine;
      if (mine !== undefined && clock.now() - mine.renewedAt > (ttlMs * 3) / 4) {
        this.stepDown('could not renew the lease in time');
      }
      logger.warn({ err: error }, 'leader election round failed');
    }
  }
}
