/**
 * MariaDB GTID positions: `domain-server-seq` entries, comma-separated, at most one per domain.
 * Sequence numbers grow within a domain, so one position covers another when, for every domain
 * of the other, its sequence number is at least as high. Server ids do not take part.
 */
export type GtidPosition = ReadonlyMap<number, number>;

const empty: GtidPosition = new Map();

/** The empty position: covered by every other. */
export function emptyGtidPosition(): GtidPosition {
  return empty;
}

/** Parses `0-1-42,1-2-7`; malformed entries are skipped; duplicates keep the highest sequence. */
export function parseGtid(text: string): GtidPosition {
  if (text === '') return empty;
  const map = new Map<number, number>();
  for (const entry of text.split(',')) {
    const parts = entry.trim().split('-');
    if (parts.length !== 3) continue;
    const domain = Number(parts[0]);
    const seq = Number(parts[2]);
    if (!Number.isSafeInteger(domain) || !Number.isSafeInteger(seq) || domain < 0 || seq < 0) {
      continue;
    }
    const previous = map.get(domain);
    if (previous === undefined || seq > previous) map.set(domain, seq);
  }
  return map;
}

/** Whether `have` includes everything in `want` (per domain, sequence ≥). */
export function gtidCovers(have: GtidPosition, want: GtidPosition): boolean {
  for (const [domain, seq] of want) {
    const applied = have.get(domain);
    if (applied === undefined || applied < seq) return false;
  }
  return true;
}

/** The per-domain maximum of two positions; returns `a` itself when it already covers `b`. */
export function mergeGtid(a: GtidPosition, b: GtidPosition): GtidPosition {
  if (gtidCovers(a, b)) return a;
  if (gtidCovers(b, a)) return b;
  const map = new Map(a);
  for (const [domain, seq] of b) {
    const previous = map.get(domain);
    if (previous === undefined || seq > previous) map.set(domain, seq);
  }
  return map;
}

/** Transactions in `ahead` that `behind` has not reached, summed over domains. */
export function gtidDistance(ahead: GtidPosition, behind: GtidPosition): number {
  let distance = 0;
  for (const [domain, seq] of ahead) distance += Math.max(0, seq - (behind.get(domain) ?? 0));
  return distance;
}

/**
 * The text MASTER_GTID_WAIT takes. The server id is not compared by the wait, but the syntax
 * needs one; 0 is accepted.
 */
export function formatGtid(position: GtidPosition): string {
  const parts: string[] = [];
  for (const [domain, seq] of position) parts.push(`${domain}-0-${seq}`);
  return parts.join(',');
}
