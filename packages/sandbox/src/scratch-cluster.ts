import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseClusterNodes } from '@switchboard/storage';
import { SandboxError, SandboxErrorCode } from './errors.js';
import { CLUSTER_BUS_OFFSET, CLUSTER_NODE_TIMEOUT_MS, LOOPBACK } from './layout.js';
import { ownedPid, probePort, run, spawnLogged, stopPid, waitFor } from './process.js';
import { redisArgs } from './redis.js';
import { parseInfo, redisCommand } from './resp.js';
import type { Endpoint, SandboxInfo } from './types.js';

/** Where scratch clusters take their ports: above the sandbox's own range. */
export const SCRATCH_PORT_OFFSET = 100;

/** The most nodes one scratch cluster may have (its ports must stay inside its slice). */
export const SCRATCH_MAX_NODES = 20;

export interface ScratchClusterOptions {
  /** How many redis-server processes (cluster-enabled, empty) to start. */
  readonly nodes: number;
  /**
   * Which slice of the scratch port range to use, so test files that run at the same time do
   * not collide: slice k uses ports `portBase + 100 + 20k` onwards. Default 0.
   */
  readonly slice?: number;
  /** Bound on each node becoming ready; default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * A Redis Cluster a test owns: its own processes, ports and data, for what must not touch the
 * shared sandbox cluster (rebalancing, adding and removing nodes). Started by `startScratchCluster`;
 * `stop()` kills the processes and removes the data.
 */
export interface ScratchCluster {
  /** Every node started, in port order; `create` joins a prefix of them. */
  readonly nodes: readonly Endpoint[];
  readonly nodeTimeoutMs: number;
  /**
   * Joins the first `primaries × (1 + replicasPerPrimary)` nodes into a cluster with every slot
   * assigned (`redis-cli --cluster create`) and waits for cluster_state ok and linked replicas.
   * The other nodes stay empty, ready to be added.
   */
  create(primaries: number, replicasPerPrimary: number): Promise<readonly Endpoint[]>;
  stop(): Promise<void>;
}

interface ScratchNode {
  readonly port: number;
  readonly dir: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly command: string;
}

/** Starts `nodes` empty cluster-enabled Redis servers under `<sandbox root>/scratch/<slice>`. */
export async function startScratchCluster(
  info: SandboxInfo,
  options: ScratchClusterOptions,
): Promise<ScratchCluster> {
  const slice = options.slice ?? 0;
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > SCRATCH_MAX_NODES) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `a scratch cluster has 1 to ${SCRATCH_MAX_NODES} nodes; got ${options.nodes}`,
    );
  }
  const first = info.portBase + SCRATCH_PORT_OFFSET + slice * SCRATCH_MAX_NODES;
  if (
    !Number.isInteger(slice) ||
    slice < 0 ||
    first + SCRATCH_MAX_NODES + CLUSTER_BUS_OFFSET > 32767
  ) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `scratch cluster slice ${slice} puts ports past 32767 with port base ${info.portBase}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const root = join(info.root, 'scratch', String(slice));
  const nodes: ScratchNode[] = Array.from({ length: options.nodes }, (_, i) => {
    const port = first + i;
    const dir = join(root, String(port));
    return {
      port,
      dir,
      pidFile: join(dir, 'redis.pid'),
      logFile: join(dir, 'redis.log'),
      command: 'redis-server',
    };
  });
  // A test that died before stop() leaves its nodes behind: ours by pid file, so stop them.
  await stopAll(nodes);
  await rm(root, { recursive: true, force: true });
  for (const node of nodes) {
    if (await probePort(node.port)) {
      throw new SandboxError(
        SandboxErrorCode.portInUse,
        `scratch cluster: port ${node.port} is in use by a process the sandbox did not start`,
      );
    }
  }
  try {
    await Promise.all(nodes.map((node) => startNode(node, timeoutMs)));
  } catch (error) {
    await stopAll(nodes);
    throw error;
  }
  const endpoints = nodes.map((node) => ({ host: LOOPBACK, port: node.port }));
  return {
    nodes: endpoints,
    nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS,
    async create(primaries, replicasPerPrimary) {
      const members = endpoints.slice(0, primaries * (1 + replicasPerPrimary));
      if (primaries < 3 || members.length !== primaries * (1 + replicasPerPrimary)) {
        throw new SandboxError(
          SandboxErrorCode.badOption,
          `redis-cli creates clusters of at least 3 primaries from the ${endpoints.length} nodes started; ` +
            `asked for ${primaries} primaries with ${replicasPerPrimary} replicas each`,
        );
      }
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...members.map((n) => `${n.host}:${n.port}`),
          '--cluster-replicas',
          String(replicasPerPrimary),
          '--cluster-yes',
        ],
        { timeoutMs },
      );
      await waitFor(
        'scratch cluster: cluster_state ok and replicas linked',
        async () => ((await allOk(members, primaries)) ? true : undefined),
        { timeoutMs, intervalMs: 100 },
      );
      return members;
    },
    async stop() {
      await stopAll(nodes);
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function startNode(node: ScratchNode, timeoutMs: number): Promise<void> {
  await mkdir(node.dir, { recursive: true });
  const spawned = await spawnLogged('redis-server', redisArgs(node, true), {
    logFile: node.logFile,
    unref: false,
  });
  const code = await spawned.exited;
  if (code !== 0) {
    throw new SandboxError(
      SandboxErrorCode.startFailed,
      `scratch cluster node ${node.port}: ${spawned.exitReason() ?? 'redis-server failed'} (see ${node.logFile})`,
    );
  }
  const endpoint = { host: LOOPBACK, port: node.port };
  await waitFor(
    `scratch cluster node 127.0.0.1:${node.port}`,
    async () => ((await redisCommand(endpoint, ['PING'], 1000)) === 'PONG' ? true : undefined),
    { timeoutMs, logFile: node.logFile },
  );
}

async function stopAll(nodes: readonly ScratchNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const pid = await ownedPid(node);
      if (pid !== undefined) await stopPid(pid, 5000);
    }),
  );
}

/** Every member ok, replicas linked, and every member's view showing the same primaries and replicas. */
async function allOk(members: readonly Endpoint[], primaries: number): Promise<boolean> {
  for (const member of members) {
    const view = parseClusterNodes(await redisCommand(member, ['CLUSTER', 'NODES']));
    const masters = view.filter((n) => n.role === 'primary').length;
    const replicas = view.filter((n) => n.role === 'replica').length;
    if (masters !== primaries || replicas !== members.length - primaries) return false;
    if (view.some((n) => n.handshake)) return false;
    const cluster = parseInfo(await redisCommand(member, ['CLUSTER', 'INFO']));
    if (cluster.get('cluster_state') !== 'ok') return false;
    const replication = parseInfo(await redisCommand(member, ['INFO', 'replication']));
    if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up') {
      return false;
    }
  }
  return true;
}
