import { createClusterAdmin, formatRanges, type ApplyResult } from '@switchboard/storage';

/**
 * Grow a Redis Cluster by one Availability Group: show the groups and what the seed's rules say
 * of them, plan the new group (which slots move, and how many keys and bytes), then apply the
 * plan with progress. `seeds` are `host:port` of cluster members; the new nodes are empty
 * cluster-enabled Redis servers. Run it again after an interruption and it finishes the job.
 */
export async function addGroupExample(
  seeds: readonly string[],
  newGroup: { readonly primary: string; readonly replicas: readonly string[] },
  log: (line: string) => void,
): Promise<ApplyResult> {
  const admin = createClusterAdmin({ nodes: seeds });
  try {
    const layout = await admin.layout();
    for (const group of layout.groups) {
      log(
        `AG ${group.id.slice(0, 8)}: ${group.members.join(', ')}; slots ${formatRanges(group.slots)}`,
      );
    }
    for (const finding of layout.findings) log(`${finding.severity}: ${finding.message}`);

    const plan = await admin.plan({ addGroups: [newGroup] });
    if (plan.findings.some((f) => f.severity === 'error')) {
      throw new Error(plan.findings.map((f) => f.message).join('; '));
    }
    const { slots, keys, bytes } = plan.estimate;
    log(`plan: move ${slots} slots, ~${keys} keys, ~${(bytes / 2 ** 20).toFixed(1)} MiB`);

    return await admin.apply(plan, {
      onProgress: (event) => {
        if (event.phase === 'migrate' && event.slotsDone % 1024 === 0) {
          log(`moved ${event.slotsDone}/${event.slotsTotal} slots, ${event.keysMoved} keys`);
        }
      },
    });
  } finally {
    await admin.close();
  }
}
