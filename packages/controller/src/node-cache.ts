import type { Logger } from '@switchboard/runtime';
import type { ControllerStore, NodeRecord } from './store.js';

interface Known {
  readonly drained: boolean;
}

/**
 * Each controller's copy of who is registered and who is drained, so a heartbeat costs one kv
 * write (the lease) and no read. Refreshed from kv every `refreshMs`; a node registered through
 * another controller is read once on its first heartbeat here.
 */
export class NodeCache {
  private nodes = new Map<string, Known>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly store: ControllerStore,
    private readonly logger: Logger,
    private readonly refreshMs: number,
  ) {}

  remember(record: NodeRecord): void {
    this.nodes.set(record.id, { drained: record.drained });
  }

  forget(id: string): void {
    this.nodes.delete(id);
  }

  /** The node, from the cache or else from kv; undefined when it is not registered. */
  async lookup(id: string): Promise<Known | undefined> {
    const cached = this.nodes.get(id);
    if (cached !== undefined) return cached;
    const record = await this.store.getNode(id);
    if (record === undefined) return undefined;
    this.remember(record);
    return { drained: record.drained };
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const records = await this.store.nodeRecords();
        this.nodes = new Map(records.map((r) => [r.id, { drained: r.drained }]));
        this.failing = false;
      } catch (error) {
        if (!this.failing) this.logger.warn({ err: error }, 'node cache: cannot read the registry');
        this.failing = true;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }
}
