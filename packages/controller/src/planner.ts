import { Type, type Static } from '@switchboard/runtime';
import { checkGroupSizes, SLOT_COUNT } from '@switchboard/storage';

const Count = (max: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: max, description });
const HostPort = Type.String({ pattern: '^[^\\s]+:[0-9]{1,5}$', maxLength: 262 });

/** A proposed layout: what `POST /v1/plans` takes. Every section is optional. */
export const ProposalSchema = Type.Object(
  {
    sql: Type.Optional(
      Type.Object(
        { replicas: Count(64, 'Read replicas of the one primary') },
        { additionalProperties: false },
      ),
    ),
    kv: Type.Optional(
      Type.Object(
        {
          groupSizes: Type.Optional(
            Type.Array(Count(64, 'Nodes in one Availability Group'), {
              minItems: 1,
              maxItems: 1000,
              description: 'Nodes per Availability Group, one entry per group',
            }),
          ),
          memoryPerNodeMb: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 16 * 1024 * 1024,
              description: 'Memory each node gives the data',
            }),
          ),
          target: Type.Optional(
            Type.Object(
              {
                addGroups: Type.Optional(
                  Type.Array(
                    Type.Object(
                      { primary: HostPort, replicas: Type.Array(HostPort, { maxItems: 16 }) },
                      { additionalProperties: false },
                    ),
                    { maxItems: 64 },
                  ),
                ),
                removeGroups: Type.Optional(
                  Type.Array(Type.String({ minLength: 1, maxLength: 262 }), { maxItems: 64 }),
                ),
                addReplicas: Type.Optional(
                  Type.Array(
                    Type.Object(
                      { group: Type.String({ minLength: 1, maxLength: 262 }), node: HostPort },
                      { additionalProperties: false },
                    ),
                    { maxItems: 64 },
                  ),
                ),
                removeReplicas: Type.Optional(Type.Array(HostPort, { maxItems: 64 })),
              },
              {
                additionalProperties: false,
                description:
                  'The concrete change to the live Redis Cluster (nodes named host:port); the plan then lists its slot moves and can be applied',
              },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    search: Type.Optional(
      Type.Object(
        {
          nodes: Count(1000, 'Elasticsearch data nodes'),
          memoryPerNodeMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    roles: Type.Optional(
      Type.Object(
        {
          controller: Type.Optional(Count(64, 'Controllers')),
          queue: Type.Optional(Count(1000, 'Queue bridges')),
          worker: Type.Optional(Count(10_000, 'Workers')),
          'sip-edge': Type.Optional(Count(1000, 'SIP edges')),
          pbx: Type.Optional(Count(10_000, 'PBX nodes')),
        },
        { additionalProperties: false },
      ),
    ),
    storage: Type.Optional(
      Type.Object(
        {
          driver: Type.Union([Type.Literal('posix'), Type.Literal('s3')]),
          totalTb: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Proposal = Static<typeof ProposalSchema>;

export const PlanFindingSchema = Type.Object({
  severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
  code: Type.String(),
  message: Type.String(),
  group: Type.Optional(Type.String()),
});
export type PlanFinding = Static<typeof PlanFindingSchema>;

/** The live Distributed Database as the last probe saw it: what a change is measured against. */
export interface LiveKv {
  readonly groups: readonly {
    readonly id: string;
    readonly size: number;
    readonly slots: number;
    readonly keys: number | null;
    readonly memoryUsedBytes: number | null;
  }[];
}

/** Replicas beyond this rarely help (the seed); the SQL router warns at the same number. */
export const SQL_REPLICA_WARNING = 4;

/**
 * The seed's rules over a proposed layout, pure: errors make the layout unsafe, warnings cost
 * performance or money, infos are the seed's advice. `live` (when the controller has probed the
 * cluster) turns a change in the number of AGs into what the rebalance moves.
 */
export function reviewProposal(proposal: Proposal, live: LiveKv | undefined): PlanFinding[] {
  const findings: PlanFinding[] = [];
  const { sql, kv, search, roles, storage } = proposal;

  if (sql !== undefined) {
    if (sql.replicas > SQL_REPLICA_WARNING) {
      findings.push({
        severity: 'warning',
        code: 'sql-replicas-beyond-four',
        message: `${sql.replicas} SQL replicas: more than ${SQL_REPLICA_WARNING} rarely helps, since each one adds binlog load on the primary`,
      });
    } else if (sql.replicas === 0) {
      findings.push({
        severity: 'warning',
        code: 'sql-no-replica',
        message: 'no SQL replica: every read goes to the primary, and losing it stops reads too',
      });
    }
    findings.push({
      severity: 'info',
      code: 'sql-primary-critical',
      message:
        'the SQL primary is critical: losing it stops writes until an operator promotes a replica',
    });
  }

  if (kv?.groupSizes !== undefined) {
    const groups = kv.groupSizes.map((size, i) => ({ id: `ag-${i + 1}`, size }));
    findings.push(...checkGroupSizes(groups));
    const count = groups.length;
    if (live !== undefined && live.groups.length > 0 && live.groups.length !== count) {
      findings.push(rebalanceFinding(live, count));
    }
    const smallestStart = count < 3 && (live === undefined || live.groups.length === 0);
    if (smallestStart) {
      findings.push({
        severity: 'info',
        code: 'kv-start-with-many-small-nodes',
        message:
          'adding Availability Groups later means a rebalance, which is expensive: start with more, smaller nodes and grow each node instead',
      });
    }
    if (kv.memoryPerNodeMb !== undefined && live !== undefined) {
      const used = live.groups.reduce((sum, g) => sum + (g.memoryUsedBytes ?? 0), 0);
      const capacity = count * kv.memoryPerNodeMb * 1024 * 1024;
      if (used > capacity * 0.8) {
        findings.push({
          severity: used > capacity ? 'error' : 'warning',
          code: 'kv-memory',
          message: `the data in use (${mib(used)} MiB) ${used > capacity ? 'does not fit' : 'would fill more than 80% of'} ${count} × ${kv.memoryPerNodeMb} MiB`,
        });
      }
    }
  }

  if (search !== undefined) {
    if (search.nodes < 2) {
      findings.push({
        severity: 'warning',
        code: 'search-no-redundancy',
        message: `${search.nodes} Elasticsearch node${search.nodes === 1 ? '' : 's'}: no replica shard can be placed, so losing a node loses the index`,
      });
    }
    findings.push({
      severity: 'info',
      code: 'search-start-with-more-nodes',
      message:
        'as with the Distributed Database: start with more nodes and grow their hardware, rather than adding nodes later',
    });
  }

  if (roles !== undefined) {
    const single = (['controller', 'queue', 'worker', 'sip-edge'] as const).filter(
      (role) => roles[role] === 1,
    );
    for (const role of single) {
      findings.push({
        severity: 'warning',
        code: 'role-single-instance',
        message: `one ${role}: nothing takes over when it fails; run at least two`,
      });
    }
    const missing = (['controller', 'queue', 'worker', 'sip-edge', 'pbx'] as const).filter(
      (role) => roles[role] === 0,
    );
    for (const role of missing) {
      findings.push({
        severity: 'error',
        code: 'role-missing',
        message: `no ${role}: the platform needs at least one`,
      });
    }
  }

  if (storage !== undefined && storage.driver === 'posix' && (storage.totalTb ?? 0) >= 10) {
    findings.push({
      severity: 'info',
      code: 'storage-s3-at-scale',
      message: `${storage.totalTb ?? 0} TB on a POSIX file system: S3-compatible object storage is recommended at this scale`,
    });
  }
  return findings;
}

/** What changing the number of AGs moves, with keys and bytes prorated from the live cluster. */
function rebalanceFinding(live: LiveKv, count: number): PlanFinding {
  const from = live.groups.length;
  // Going from `from` to `count` even shares moves |count − from| / max(count, from) of the slots.
  const fraction = Math.abs(count - from) / Math.max(count, from);
  const slots = Math.round(SLOT_COUNT * fraction);
  const keys = live.groups.reduce((sum, g) => sum + (g.keys ?? 0), 0);
  const bytes = live.groups.reduce((sum, g) => sum + (g.memoryUsedBytes ?? 0), 0);
  return {
    severity: 'warning',
    code: 'kv-rebalance',
    message:
      `going from ${from} to ${count} Availability Groups forces a rebalance: about ${slots} of ${SLOT_COUNT} slots, ` +
      `~${Math.round(keys * fraction)} keys and ~${mib(bytes * fraction)} MiB move (name the nodes in kv.target for the exact slot moves)`,
  };
}

function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
