import type { ResolvedNode, ResolvedTopology } from './config.js';
import { gtidCovers, type GtidPosition } from './gtid.js';
import type { Node } from './node.js';
import type { SqlRole } from './types.js';

/**
 * The current topology and the read pool derived from it: the replicas that are neither ejected,
 * lagging nor removed. The router, the causal reads and the health poller share one instance;
 * whoever changes a node's membership calls `rebuild()`.
 */
export class Membership {
  primary: Node;
  replicas: Node[];
  /** Replicas in the read pool, rebuilt on every membership change. */
  readable: Node[] = [];
  private totalWeight = 0;
  private uniformWeights = true;
  private nextIndex = 0;

  constructor(primary: Node, replicas: Node[]) {
    this.primary = primary;
    this.replicas = replicas;
    this.rebuild();
  }

  rebuild(): void {
    this.readable = this.replicas.filter((n) => !n.ejected && !n.lagging && !n.removed);
    this.totalWeight = this.readable.reduce((sum, n) => sum + n.config.weight, 0);
    const first = this.readable[0]?.config.weight;
    this.uniformWeights = this.readable.every((n) => n.config.weight === first);
  }

  /**
   * Swaps in a new topology. A server that stays keeps its node (pool and state), with its new
   * weight if only that changed; `open` makes the nodes of new servers. Returns the nodes that
   * left, for the caller to retire.
   */
  replace(resolved: ResolvedTopology, open: (config: ResolvedNode, role: SqlRole) => Node): Node[] {
    const old = this.all();
    const reuse = (config: ResolvedNode, role: SqlRole): Node => {
      const existing = old.find(
        (n) =>
          n.role === role && n.name === config.name && n.config.fingerprint === config.fingerprint,
      );
      if (existing === undefined) return open(config, role);
      if (existing.config.weight === config.weight) return existing;
      // Same server, new weight: keep the pool and its state.
      const updated: Node = Object.assign(existing, { config });
      return updated;
    };
    const primary = reuse(resolved.primary, 'primary');
    const replicas = resolved.replicas.map((r) => reuse(r, 'replica'));
    const kept = new Set<Node>([primary, ...replicas]);
    this.primary = primary;
    this.replicas = replicas;
    this.rebuild();
    return old.filter((n) => !kept.has(n));
  }

  all(): Node[] {
    return [this.primary, ...this.replicas];
  }

  /** A replica of the read pool by weight (round robin when the weights are equal). */
  pickReplica(exclude: readonly Node[] | undefined): Node | undefined {
    const pool = this.readable;
    const count = pool.length;
    if (count === 0) return undefined;
    if (exclude === undefined) {
      if (this.uniformWeights) {
        const index = this.nextIndex++ % count;
        if (this.nextIndex >= 1 << 30) this.nextIndex = 0;
        return pool[index];
      }
      let ticket = Math.random() * this.totalWeight;
      for (const node of pool) {
        ticket -= node.config.weight;
        if (ticket < 0) return node;
      }
      return pool[count - 1];
    }
    const candidates = pool.filter((n) => !exclude.includes(n));
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  /** A replica the router already knows has applied `want`: no wait, no extra round trip. */
  pickCaughtUp(want: GtidPosition, exclude: readonly Node[] | undefined): Node | undefined {
    const pool = this.readable;
    const count = pool.length;
    const start = this.nextIndex++ % count;
    for (let i = 0; i < count; i++) {
      const node = pool[(start + i) % count];
      if (
        node !== undefined &&
        gtidCovers(node.position, want) &&
        !(exclude?.includes(node) ?? false)
      ) {
        return node;
      }
    }
    return undefined;
  }
}
