import { randomUUID } from 'node:crypto';
import type { Clock, Logger } from '@switchboard/runtime';
import type { ApplyProgress, ClusterAdmin, KvRecords, RebalancePlan } from '@switchboard/storage';
import { ControllerError, ControllerErrorCode, FencedError, notFound } from './errors.js';
import type { LeaderElection } from './leader.js';
import { reviewProposal, type LiveKv, type PlanFinding, type Proposal } from './planner.js';

export type PlanState = 'proposed' | 'applying' | 'applied' | 'failed';

export interface PlanProgress {
  readonly phase: ApplyProgress['phase'];
  readonly slotsDone: number;
  readonly slotsTotal: number;
  readonly keysMoved: number;
  readonly updatedAt: string;
}

/** A plan as stored and as `GET /v1/plans/:id` returns it. */
export interface PlanRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly state: PlanState;
  readonly proposal: Proposal;
  readonly findings: readonly PlanFinding[];
  /** The slot moves of `proposal.kv.target`, with key and byte estimates: what applying runs. */
  readonly kv?: RebalancePlan;
  readonly progress?: PlanProgress;
  readonly result?: {
    readonly slotsMoved: number;
    readonly slotsAlreadyPlaced: number;
    readonly keysMoved: number;
    readonly elapsedMs: number;
  };
  readonly error?: string;
  /** How many times a leader started applying it (more than one: it resumed after a failover). */
  readonly runs: number;
  /** The fence of the last leader that wrote it; an older leader's write is refused. */
  readonly fence: number;
}

export interface PlansOptions {
  readonly records: KvRecords<PlanRecord>;
  readonly cluster: ClusterAdmin;
  readonly election: LeaderElection;
  /** The live AGs as the last probe saw them (undefined before the first). */
  readonly liveKv: () => Promise<LiveKv | undefined>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Plans: `create` reviews a proposal against the seed's rules and, when it names a concrete
 * change to the Redis Cluster, asks the storage library for the exact slot moves and their
 * estimated keys and bytes. `requestApply` marks a plan for the leader; the leader's `resume`
 * runs every plan so marked — including one a previous leader was running when it died, since
 * applying a plan again finishes it without redoing what is done. Progress goes to the plan's
 * record, fenced, so a deposed leader's late progress never overwrites its successor's.
 */
export class Plans {
  private readonly options: PlansOptions;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();

  constructor(options: PlansOptions) {
    this.options = options;
  }

  async create(proposal: Proposal): Promise<PlanRecord> {
    const live = await this.options.liveKv();
    const findings = reviewProposal(proposal, live);
    let kv: RebalancePlan | undefined;
    const target = proposal.kv?.target;
    if (target !== undefined) {
      try {
        kv = await this.options.cluster.plan(target);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'SWB_KV_CLUSTER_INVALID_TARGET' || code === 'SWB_KV_CLUSTER_CONFLICT') {
          throw new ControllerError(
            ControllerErrorCode.InvalidRequest,
            `kv.target: ${(error as Error).message}`,
          );
        }
        throw new ControllerError(
          ControllerErrorCode.Unavailable,
          `cannot read the Redis Cluster to plan: ${(error as Error).message}`,
          { cause: error },
        );
      }
      findings.push(
        ...kv.findings.map((f) => ({
          severity: f.severity,
          code: f.code,
          message: f.message,
          ...(f.group === undefined ? {} : { group: f.group }),
        })),
      );
      if (kv.moves.length > 0) {
        findings.push({
          severity: 'warning',
          code: 'kv-rebalance',
          message: `this change moves ${kv.estimate.slots} slots, ~${kv.estimate.keys} keys, ~${Math.round(kv.estimate.bytes / 1024)} KiB`,
        });
      }
    }
    const record: PlanRecord = {
      id: randomUUID(),
      createdAt: new Date(this.options.clock.now()).toISOString(),
      state: 'proposed',
      proposal,
      findings,
      ...(kv === undefined ? {} : { kv }),
      runs: 0,
      fence: 0,
    };
    await this.options.records.set(record.id, record);
    return record;
  }

  async get(id: string): Promise<PlanRecord> {
    const record = await this.options.records.get(id);
    if (record === undefined) throw notFound('plan', id);
    return record;
  }

  async list(): Promise<PlanRecord[]> {
    const ids: string[] = [];
    for await (const key of this.options.records.keys()) ids.push(key);
    const records = await this.options.records.mget(ids);
    return records
      .filter((r): r is PlanRecord => r !== undefined)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Marks a plan for the leader to apply; refuses one with errors or nothing to do. */
  async requestApply(id: string): Promise<PlanRecord> {
    let refused: string | undefined;
    const next = await this.options.records.update(id, (current) => {
      if (current === undefined) return undefined;
      if (current.kv === undefined) {
        refused =
          'the plan names no change to the Redis Cluster (kv.target); there is nothing to apply';
      } else if (current.findings.some((f) => f.severity === 'error')) {
        refused = 'the plan has errors; fix the proposal and plan again';
      } else if (current.state === 'applied') {
        refused = 'the plan was applied already';
      }
      if (refused !== undefined || current.state === 'applying') return current;
      const { error: _error, ...rest } = current;
      return { ...rest, state: 'applying' };
    });
    if (next === undefined) throw notFound('plan', id);
    if (refused !== undefined) throw new ControllerError(ControllerErrorCode.Conflict, refused);
    void this.resume();
    return next;
  }

  /** Leader only: runs every plan marked `applying` that is not running here yet. */
  async resume(): Promise<void> {
    const lease = this.options.election.lease;
    if (lease === undefined) return;
    let plans: PlanRecord[];
    try {
      plans = await this.list();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cannot list plans to resume');
      return;
    }
    for (const plan of plans) {
      if (plan.state !== 'applying' || this.running.has(plan.id)) continue;
      const abort = new AbortController();
      const done = this.run(plan.id, lease.fence, abort);
      this.running.set(plan.id, { abort, done });
    }
  }

  /**
   * Stops every run here (the leader stepped down or the controller closes) and resolves once
   * they stopped, between two key batches: the cluster connections must stay open until then,
   * or a run cut mid-step leaves a slot half-handed over for the next run to mend.
   */
  async abortAll(): Promise<void> {
    const runs = [...this.running.values()];
    for (const run of runs) run.abort.abort();
    await Promise.allSettled(runs.map((run) => run.done));
  }

  private async run(id: string, fence: number, abort: AbortController): Promise<void> {
    const { logger, clock, cluster } = this.options;
    const log = logger.child({ planId: id, fence });
    try {
      const started = await this.write(id, fence, (p) => ({ ...p, runs: p.runs + 1 }));
      if (started.kv === undefined) return;
      log.info({ run: started.runs }, 'applying plan');
      let lastWrite = 0;
      let pending: Promise<unknown> = Promise.resolve();
      const result = await cluster.apply(started.kv, {
        signal: abort.signal,
        onProgress: (event) => {
          const now = clock.now();
          if (
            event.phase === 'migrate' &&
            now - lastWrite < 250 &&
            event.slotsDone < event.slotsTotal
          )
            return;
          lastWrite = now;
          const progress: PlanProgress = {
            phase: event.phase,
            slotsDone: event.phase === 'migrate' ? event.slotsDone : 0,
            slotsTotal:
              event.phase === 'migrate' ? event.slotsTotal : (started.kv?.estimate.slots ?? 0),
            keysMoved: event.phase === 'migrate' ? event.keysMoved : 0,
            updatedAt: new Date(now).toISOString(),
          };
          pending = pending
            .then(() => this.write(id, fence, (p) => ({ ...p, progress })))
            .catch((error: unknown) => {
              if (error instanceof FencedError) abort.abort(error);
              else log.warn({ err: error }, 'could not record plan progress');
            });
        },
      });
      await pending;
      await this.write(id, fence, (p) => ({
        ...p,
        state: 'applied',
        result: {
          slotsMoved: result.slotsMoved,
          slotsAlreadyPlaced: result.slotsAlreadyPlaced,
          keysMoved: result.keysMoved,
          elapsedMs: result.elapsedMs,
        },
        progress: {
          phase: 'settled',
          slotsDone: p.kv?.estimate.slots ?? 0,
          slotsTotal: p.kv?.estimate.slots ?? 0,
          keysMoved: result.keysMoved,
          updatedAt: new Date(clock.now()).toISOString(),
        },
      }));
      log.info({ slotsMoved: result.slotsMoved, keysMoved: result.keysMoved }, 'plan applied');
    } catch (error) {
      if (error instanceof FencedError || abort.signal.aborted) {
        log.warn(
          { err: error },
          'plan run stopped: this controller no longer leads; the new leader resumes it',
        );
        if (error instanceof FencedError) this.options.election.stepDown(error.message);
        return;
      }
      log.error({ err: error }, 'plan failed');
      try {
        await this.write(id, fence, (p) => ({
          ...p,
          state: 'failed',
          error: error instanceof Error ? error.message : String(error),
        }));
      } catch (writeError) {
        log.warn({ err: writeError }, 'could not record the plan failure');
      }
    } finally {
      this.running.delete(id);
    }
  }

  /** A fenced update of a plan: refused when a newer leader has written it. */
  private async write(
    id: string,
    fence: number,
    change: (plan: PlanRecord) => PlanRecord,
  ): Promise<PlanRecord> {
    const next = await this.options.records.update(id, (current) => {
      if (current === undefined) throw notFound('plan', id);
      if (current.fence > fence) throw new FencedError(`plan ${id}`, fence, current.fence);
      return { ...change(current), fence };
    });
    if (next === undefined) throw notFound('plan', id);
    return next;
  }
}
