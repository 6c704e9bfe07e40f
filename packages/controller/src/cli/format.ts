// Pure renderers from the API's JSON to the text an operator reads. `now` is passed in, so
// ages ("12s ago") are testable.
import type { NodeLoad, NodeView, Topology } from '@switchboard/runtime';
import type { PlanRecord } from '../plans.js';
import type { ControllerStatus } from '../reconciler.js';

/** `GET /v1/nodes` and `GET /v1/nodes/:id`. */
export type NodeDetail = NodeView & { readonly lastSeen?: string; readonly load?: NodeLoad };

/** `GET /v1/status`. */
export interface StatusReply {
  readonly controller: { readonly nodeId: string; readonly leader: boolean };
  readonly leader: { readonly nodeId: string; readonly fence: number; readonly url: string } | null;
  readonly topologyVersion: number;
  readonly status: ControllerStatus | null;
}

export type Plan = PlanRecord;

/** Rows in aligned columns, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A duration as an operator says it: 850ms, 12s, 3m, 5h, 2d. */
export function duration(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)}ms`;
  if (value < 60_000) return `${Math.floor(value / 1000)}s`;
  if (value < 3_600_000) return `${Math.floor(value / 60_000)}m`;
  if (value < 86_400_000) return `${Math.floor(value / 3_600_000)}h`;
  return `${Math.floor(value / 86_400_000)}d`;
}

/** How long ago an ISO time was, or `-`. */
export function age(iso: string | undefined, now: number): string {
  if (iso === undefined) return '-';
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '-' : `${duration(now - at)} ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit] ?? 'TiB'}`;
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function loadText(load: NodeLoad | undefined): string {
  if (load === undefined) return '-';
  const parts: string[] = [];
  if (load.activeJobs !== undefined) parts.push(count(load.activeJobs, 'job'));
  if (load.activeCalls !== undefined) parts.push(count(load.activeCalls, 'call'));
  return parts.length === 0 ? '-' : parts.join(', ');
}

/** Active jobs plus calls, which `drain --wait` waits to reach zero. */
export function activeWork(load: NodeLoad | undefined): number {
  return (load?.activeJobs ?? 0) + (load?.activeCalls ?? 0);
}

export function formatNodes(nodes: readonly NodeDetail[], now: number): string {
  if (nodes.length === 0) return 'no nodes';
  return table([
    ['ID', 'ROLES', 'AG', 'ADDRESS', 'STATUS', 'LAST SEEN', 'LOAD'],
    ...nodes.map((n) => [
      n.id,
      n.roles.join(','),
      n.ag ?? '-',
      n.address,
      n.status,
      age(n.lastSeen, now),
      loadText(n.load),
    ]),
  ]);
}

/** One node after drain or resume. */
export function formatNode(node: NodeView): string {
  return `node ${node.id}: ${node.status}${node.drained ? ' (drained: takes no new work)' : ''}`;
}

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** Node counts by status and by role, as `status --json` also reports them. */
export function nodeCounts(nodes: readonly NodeView[]): {
  total: number;
  byStatus: Record<string, number>;
  byRole: Record<string, number>;
} {
  const byStatus: Record<string, number> = {};
  const byRole: Record<string, number> = {};
  for (const node of nodes) {
    byStatus[node.status] = (byStatus[node.status] ?? 0) + 1;
    for (const role of node.roles) byRole[role] = (byRole[role] ?? 0) + 1;
  }
  return { total: nodes.length, byStatus, byRole };
}

/** `status`'s text; `topology` is undefined before any leader has written one (a 204). */
export function formatStatus(
  status: StatusReply,
  topology: Topology | undefined,
  now: number,
): string {
  const probes = status.status?.probes;
  const lines: [string, string][] = [];
  lines.push([
    'controller',
    `${status.controller.nodeId}${status.controller.leader ? ' (leader)' : ' (follower)'}`,
  ]);
  lines.push([
    'leader',
    status.leader === null
      ? 'none elected'
      : `${status.leader.nodeId}, fence ${status.leader.fence}, ${status.leader.url}`,
  ]);
  lines.push([
    'topology',
    topology === undefined
      ? 'none yet: no leader has written one'
      : `version ${status.topologyVersion}, updated ${age(topology.updatedAt, now)}`,
  ]);
  if (topology === undefined) return table(lines);
  lines.push([
    'last round',
    status.status === null
      ? 'none yet (no leader has reported)'
      : `${age(status.status.at, now)}, took ${duration(status.status.roundMs)}`,
  ]);
  const nodes = topology.nodes;
  lines.push([
    'nodes',
    nodes.length === 0
      ? 'none registered'
      : `${nodes.length}: ${tally(nodes.map((n) => n.status))}`,
  ]);
  if (nodes.length > 0) lines.push(['roles', tally(nodes.flatMap((n) => n.roles))]);

  const lagOf = new Map((probes?.sql.replicas ?? []).map((r) => [r.address, r.lagMs]));
  const primary = topology.sql.primary;
  lines.push([
    'sql primary',
    primary === null
      ? 'none configured'
      : `${primary.address} ${primary.healthy ? 'healthy' : `UNHEALTHY${primary.reason === undefined ? '' : `: ${primary.reason}`}`}`,
  ]);
  if (topology.sql.replicas.length === 0) lines.push(['sql replicas', 'none']);
  for (const replica of topology.sql.replicas) {
    const lag = lagOf.get(replica.address);
    lines.push([
      'sql replica',
      `${replica.address} ${replica.healthy ? 'healthy' : 'UNHEALTHY'}${lag === undefined ? '' : `, lag ${duration(lag)}`}${replica.reason === undefined ? '' : `: ${replica.reason}`}`,
    ]);
  }
  lines.push([
    'kv',
    `${topology.kv.state}, ${count(topology.kv.groups.length, 'AG')}${probes?.kv.error === undefined ? '' : `: ${probes.kv.error}`}`,
  ]);
  const reach = (endpoints: readonly { address: string; reachable: boolean }[]): string =>
    endpoints.length === 0
      ? 'none configured'
      : endpoints.map((e) => `${e.address} ${e.reachable ? 'ok' : 'UNREACHABLE'}`).join(', ');
  lines.push(['bus', reach(topology.bus.endpoints)]);
  lines.push(['search', reach(topology.search.endpoints)]);

  let text = table(lines);
  if (topology.kv.groups.length > 0) {
    const probed = new Map((probes?.kv.groups ?? []).map((g) => [g.id, g]));
    text +=
      '\n\n' +
      table([
        ['AG', 'PRIMARY', 'REPLICAS', 'SLOTS', 'KEYS', 'MEMORY'],
        ...topology.kv.groups.map((g) => {
          const p = probed.get(g.id);
          return [
            g.id,
            g.primary,
            g.replicas.length === 0 ? '-' : g.replicas.join(','),
            String(g.slots),
            p?.keys === undefined || p.keys === null ? '-' : String(p.keys),
            p?.memoryUsedBytes === undefined || p.memoryUsedBytes === null
              ? '-'
              : bytes(p.memoryUsedBytes),
          ];
        }),
      ]);
  }
  return text;
}

const severityOrder = ['error', 'warning', 'info'] as const;
const severityTitle = { error: 'errors', warning: 'warnings', info: 'advice' } as const;

export function hasErrors(plan: Pick<Plan, 'findings'>): boolean {
  return plan.findings.some((f) => f.severity === 'error');
}

/** A plan: state, findings by severity, slot moves with totals, and progress or outcome. */
export function formatPlan(plan: Plan): string {
  const out: string[] = [`plan ${plan.id}: ${plan.state} (created ${plan.createdAt})`];
  if (plan.findings.length === 0) out.push('', 'no findings: the layout follows every rule');
  for (const severity of severityOrder) {
    const findings = plan.findings.filter((f) => f.severity === severity);
    if (findings.length === 0) continue;
    out.push('', `${severityTitle[severity]} (${findings.length}):`);
    for (const f of findings) {
      out.push(`  ${f.group === undefined ? '' : `[${f.group}] `}${f.message} (${f.code})`);
    }
  }
  const kv = plan.kv;
  if (kv !== undefined) {
    out.push('');
    if (kv.moves.length === 0) {
      out.push('slot moves: none (the cluster already has this layout)');
    } else {
      out.push(
        'slot moves:',
        table([
          ['FROM', 'TO', 'SLOTS', 'KEYS', 'BYTES'],
          ...kv.moves.map((m) => [
            m.from,
            m.to,
            String(m.slotCount),
            `~${m.estimatedKeys}`,
            `~${bytes(m.estimatedBytes)}`,
          ]),
          [
            'total',
            '',
            String(kv.estimate.slots),
            `~${kv.estimate.keys}`,
            `~${bytes(kv.estimate.bytes)}`,
          ],
        ]),
      );
    }
  }
  if (plan.state === 'applying' && plan.progress !== undefined) {
    out.push('', `progress: ${progressText(plan.progress)}`);
  }
  if (plan.state === 'applied' && plan.result !== undefined) {
    out.push('', resultText(plan.result));
  }
  if (plan.state === 'failed') out.push('', `failed: ${plan.error ?? 'no reason recorded'}`);
  return out.join('\n');
}

export function progressText(p: NonNullable<Plan['progress']>): string {
  return `${p.phase}, ${p.slotsDone}/${p.slotsTotal} slots, ${p.keysMoved} keys moved`;
}

export function resultText(r: NonNullable<Plan['result']>): string {
  return `applied: ${r.slotsMoved} slots moved (${r.slotsAlreadyPlaced} already in place), ${r.keysMoved} keys, in ${duration(r.elapsedMs)}`;
}

export function formatPlanList(plans: readonly Plan[]): string {
  if (plans.length === 0) return 'no plans';
  return table([
    ['ID', 'CREATED', 'STATE', 'ERRORS', 'WARNINGS', 'SLOTS'],
    ...plans.map((p) => [
      p.id,
      p.createdAt,
      p.state,
      String(p.findings.filter((f) => f.severity === 'error').length),
      String(p.findings.filter((f) => f.severity === 'warning').length),
      p.kv === undefined ? '-' : String(p.kv.estimate.slots),
    ]),
  ]);
}
