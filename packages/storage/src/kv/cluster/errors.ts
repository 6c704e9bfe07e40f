import { SwitchboardError } from '@switchboard/runtime';

/**
 * Stable codes of the cluster administration API (layout, plans, rebalancing). Callers branch on
 * `code`, never on the message.
 *
 * | Code | When | Retryable |
 * |---|---|---|
 * | `SWB_KV_CLUSTER_INVALID_TARGET` | a plan's target names an unknown group or node, removes every group, or reuses a member | no |
 * | `SWB_KV_CLUSTER_UNREACHABLE` | no seed node answers, or a node a step needs does not | yes |
 * | `SWB_KV_CLUSTER_NODE_NOT_EMPTY` | a node to add holds keys or belongs to another cluster | no |
 * | `SWB_KV_CLUSTER_CONFLICT` | the cluster is not in a state the step can continue from (a slot migrating elsewhere, a failed node) | yes |
 * | `SWB_KV_CLUSTER_MIGRATE_FAILED` | `MIGRATE` or `SETSLOT` failed for a slot; re-applying the plan resumes | yes |
 * | `SWB_KV_CLUSTER_ABORTED` | the caller's AbortSignal stopped an apply; re-applying the plan resumes | yes |
 */
export const KvClusterErrorCode = {
  InvalidTarget: 'SWB_KV_CLUSTER_INVALID_TARGET',
  Unreachable: 'SWB_KV_CLUSTER_UNREACHABLE',
  NodeNotEmpty: 'SWB_KV_CLUSTER_NODE_NOT_EMPTY',
  Conflict: 'SWB_KV_CLUSTER_CONFLICT',
  MigrateFailed: 'SWB_KV_CLUSTER_MIGRATE_FAILED',
  Aborted: 'SWB_KV_CLUSTER_ABORTED',
} as const;
export type KvClusterErrorCode = (typeof KvClusterErrorCode)[keyof typeof KvClusterErrorCode];

const meta: Record<KvClusterErrorCode, { readonly retryable: boolean; readonly status: number }> = {
  SWB_KV_CLUSTER_INVALID_TARGET: { retryable: false, status: 400 },
  SWB_KV_CLUSTER_UNREACHABLE: { retryable: true, status: 503 },
  SWB_KV_CLUSTER_NODE_NOT_EMPTY: { retryable: false, status: 409 },
  SWB_KV_CLUSTER_CONFLICT: { retryable: true, status: 409 },
  SWB_KV_CLUSTER_MIGRATE_FAILED: { retryable: true, status: 502 },
  SWB_KV_CLUSTER_ABORTED: { retryable: true, status: 499 },
};

export class KvClusterError extends SwitchboardError {
  override name = 'KvClusterError';
  override readonly code: KvClusterErrorCode;

  constructor(
    code: KvClusterErrorCode,
    message: string,
    options: { readonly cause?: unknown } = {},
  ) {
    super(code, message, {
      ...options,
      retryable: meta[code].retryable,
      statusCode: meta[code].status,
    });
    this.code = code;
  }
}
