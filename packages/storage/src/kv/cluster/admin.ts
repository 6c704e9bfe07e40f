import { Secret } from '@switchboard/runtime';
import { applyPlan, type ApplyOptions, type ApplyResult } from './apply.js';
import { NodeConnections } from './connections.js';
import { KvClusterError, KvClusterErrorCode } from './errors.js';
import { readLayout, type ClusterLayout } from './layout.js';
import { parseAddress } from './nodes.js';
import { buildPlan, type EstimateOptions, type PlanTarget, type RebalancePlan } from './plan.js';

export interface ClusterAdminOptions {
  /** Seed nodes, `host:port`; the first that answers is asked for the layout. */
  readonly nodes: readonly string[];
  readonly username?: string;
  readonly password?: Secret | string;
  /** Default 2 s. */
  readonly connectTimeoutMs?: number;
  /** Default 15 s (a MIGRATE batch waits for the receiving node). */
  readonly commandTimeoutMs?: number;
}

/**
 * Reads a Redis Cluster as Availability Groups, checks it against the seed's rules, plans
 * rebalances and applies them. The controller drives it; it holds one connection per node it has
 * talked to, until `close()`.
 */
export interface ClusterAdmin {
  layout(): Promise<ClusterLayout>;
  /** A plan from the current layout to `target` (default: even the slots out), with estimates. */
  plan(target?: PlanTarget, options?: EstimateOptions): Promise<RebalancePlan>;
  /** Carries a plan out; applying it again after an interruption resumes it. */
  apply(plan: RebalancePlan, options?: Omit<ApplyOptions, 'auth'>): Promise<ApplyResult>;
  close(): Promise<void>;
}

export function createClusterAdmin(options: ClusterAdminOptions): ClusterAdmin {
  if (options.nodes.length === 0) {
    throw new KvClusterError(
      KvClusterErrorCode.InvalidTarget,
      'cluster admin: nodes must name at least one host:port',
    );
  }
  for (const node of options.nodes) {
    try {
      parseAddress(node);
    } catch (error) {
      throw new KvClusterError(
        KvClusterErrorCode.InvalidTarget,
        `cluster admin: nodes: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  const password =
    options.password instanceof Secret ? options.password.reveal() : options.password;
  const connections = new NodeConnections({
    connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    commandTimeoutMs: options.commandTimeoutMs ?? 15_000,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(password === undefined ? {} : { password }),
  });
  const seeds = [...options.nodes];
  return {
    layout: () => readLayout(connections, seeds),
    async plan(target = {}, estimate = {}) {
      return buildPlan(connections, await readLayout(connections, seeds), target, estimate);
    },
    apply(plan, applyOptions = {}) {
      return applyPlan(connections, seeds, plan, {
        ...applyOptions,
        ...(password === undefined
          ? {}
          : {
              auth: {
                password,
                ...(options.username === undefined ? {} : { username: options.username }),
              },
            }),
      });
    },
    close: () => connections.close(),
  };
}
