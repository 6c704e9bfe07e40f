/** An inclusive range of hash slots, `[first, last]`. */
export type SlotRange = readonly [first: number, last: number];

/** One line of `CLUSTER NODES`, parsed. */
export interface ClusterNodeEntry {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, the form plans and targets use. */
  readonly address: string;
  readonly flags: readonly string[];
  readonly role: 'primary' | 'replica';
  /** The primary a replica follows; undefined for a primary. */
  readonly primaryId: string | undefined;
  /** The node that answered marks itself `myself`. */
  readonly myself: boolean;
  /** Flagged `fail` (agreed) or `fail?` (suspected) by the node that answered. */
  readonly failing: boolean;
  /** Still in the `handshake` of `CLUSTER MEET`. */
  readonly handshake: boolean;
  readonly connected: boolean;
  readonly slots: readonly SlotRange[];
  /** Slots this node is migrating away, to the node id given. */
  readonly migrating: ReadonlyMap<number, string>;
  /** Slots this node is importing, from the node id given. */
  readonly importing: ReadonlyMap<number, string>;
}

/** `host:port`, with IPv6 hosts kept as Redis prints them. */
export function addressOf(node: { readonly host: string; readonly port: number }): string {
  return `${node.host}:${node.port}`;
}

/** Splits `host:port` (the last colon separates the port). Throws on anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`not a host:port address: ${JSON.stringify(address)}`);
  }
  return { host, port };
}

/**
 * Parses the text of `CLUSTER NODES`. Format per line:
 * `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping> <pong> <epoch> <link> <slot>...`
 * where a slot is `n`, `a-b`, `[n->-id]` (migrating) or `[n-<-id]` (importing).
 */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  const entries: ClusterNodeEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const [id = '', endpoint = '', flagText = '', primary = '', , , , link = '', ...slotFields] =
      line.split(' ');
    const hostPort = endpoint.split('@')[0] ?? '';
    const colon = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, colon);
    const port = Number(hostPort.slice(colon + 1));
    const flags = flagText.split(',');
    const slots: SlotRange[] = [];
    const migrating = new Map<number, string>();
    const importing = new Map<number, string>();
    for (const field of slotFields) {
      if (field.startsWith('[')) {
        const open = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(field);
        if (open?.[1] !== undefined && open[3] !== undefined) {
          (open[2] === '>' ? migrating : importing).set(Number(open[1]), open[3]);
        }
        continue;
      }
      const dash = field.indexOf('-');
      const first = Number(dash < 0 ? field : field.slice(0, dash));
      const last = dash < 0 ? first : Number(field.slice(dash + 1));
      if (Number.isInteger(first) && Number.isInteger(last)) slots.push([first, last]);
    }
    entries.push({
      id,
      host,
      port,
      address: hostPort,
      flags,
      role: flags.includes('master') ? 'primary' : 'replica',
      primaryId: primary === '-' || primary === '' ? undefined : primary,
      myself: flags.includes('myself'),
      failing: flags.includes('fail') || flags.includes('fail?'),
      handshake: flags.includes('handshake'),
      connected: link === 'connected',
      slots,
      migrating,
      importing,
    });
  }
  return entries;
}

/** Sorted, merged ranges from any collection of slot numbers. */
export function rangesOf(slots: Iterable<number>): SlotRange[] {
  const sorted = [...new Set(slots)].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const slot of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last[1] === slot - 1) last[1] = slot;
    else ranges.push([slot, slot]);
  }
  return ranges;
}

/** Every slot of the ranges, ascending. */
export function slotsOf(ranges: readonly SlotRange[]): number[] {
  const slots: number[] = [];
  for (const [first, last] of ranges) for (let s = first; s <= last; s++) slots.push(s);
  return slots.sort((a, b) => a - b);
}

export function countSlots(ranges: readonly SlotRange[]): number {
  let count = 0;
  for (const [first, last] of ranges) count += last - first + 1;
  return count;
}

/** `0-5460 10923-16383`, the way redis-cli prints ranges. */
export function formatRanges(ranges: readonly SlotRange[]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(' ');
}
