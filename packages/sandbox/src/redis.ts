import { mkdir } from 'node:fs/promises';
import { parseClusterNodes, type ClusterNodeEntry } from '@switchboard/storage';
import { isRootUser, type StartContext } from './context.js';
import { SandboxError, SandboxErrorCode } from './errors.js';
import {
  CLUSTER_NODE_TIMEOUT_MS,
  LOOPBACK,
  layoutOf,
  type RedisNodeLayout,
  type SandboxLayout,
} from './layout.js';
import { checkFreePort } from './ports.js';
import { elapsed, killServer, ownedPid, run, spawnLogged, startError, waitFor } from './process.js';
import { parseInfo, redisCommand } from './resp.js';
import type { Endpoint, SandboxInfo } from './types.js';

/** The redis-server command line of a standalone or cluster node (pure; unit-tested). */
export function redisArgs(
  node: Pick<RedisNodeLayout, 'port' | 'pidFile' | 'logFile' | 'dir'>,
  cluster: boolean,
): string[] {
  return [
    '--port',
    String(node.port),
    '--bind',
    LOOPBACK,
    '--daemonize',
    'yes',
    '--pidfile',
    node.pidFile,
    '--logfile',
    node.logFile,
    '--dir',
    node.dir,
    '--save',
    '',
    '--appendonly',
    'no',
    // Replicas sync at once instead of after the default 5 s wait for more replicas: a replica
    // that never synced cannot be promoted, so a failover right after `up` would not happen.
    '--repl-diskless-sync-delay',
    '0',
    ...(cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(CLUSTER_NODE_TIMEOUT_MS),
        ]
      : []),
  ];
}

function endpointOf(node: RedisNodeLayout): Endpoint {
  return { host: LOOPBACK, port: node.port };
}

/** Starts the node unless it already runs; waits for PONG. */
async function ensureRedisNode(
  node: RedisNodeLayout,
  cluster: boolean,
  ctx: StartContext,
): Promise<void> {
  const startedAt = performance.now();
  const pid = await ownedPid(node);
  if (pid === undefined) {
    await checkFreePort(node);
    await mkdir(node.dir, { recursive: true });
    // --daemonize yes: the first process exits once the server forked; a non-zero code means
    // the configuration was refused.
    const spawned = await spawnLogged('redis-server', redisArgs(node, cluster), {
      logFile: node.logFile,
      // We await its exit: an unref'd child would let a process with nothing else to do end.
      unref: false,
    });
    const code = await spawned.exited;
    if (code !== 0) {
      throw await startError(
        `${node.name}: ${spawned.exitReason() ?? 'redis-server failed'}`,
        node.name,
        node.logFile,
      );
    }
    ctx.started.add(node.name);
  }
  await waitFor(
    `${node.name} (127.0.0.1:${node.port})`,
    async () =>
      (await redisCommand(endpointOf(node), ['PING'], 1000)) === 'PONG' ? true : undefined,
    { timeoutMs: ctx.timeoutMs, server: node.name, logFile: node.logFile },
  );
  if (!cluster || pid !== undefined) {
    ctx.progress(
      pid === undefined
        ? `${node.name}: ready in ${elapsed(startedAt)}`
        : `${node.name}: already running (pid ${pid})`,
    );
  }
}

export async function upRedis(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  await ensureRedisNode(layout.redis, false, ctx);
}

async function clusterInfo(node: RedisNodeLayout | Endpoint): Promise<Map<string, string>> {
  return parseInfo(await redisCommand({ host: LOOPBACK, port: node.port }, ['CLUSTER', 'INFO']));
}

async function clusterNodes(endpoint: Endpoint): Promise<ClusterNodeEntry[]> {
  return parseClusterNodes(await redisCommand(endpoint, ['CLUSTER', 'NODES']));
}

/** Undefined when every node says cluster_state:ok; otherwise which ones do not. */
async function clusterProblems(nodes: readonly Endpoint[]): Promise<string | undefined> {
  const states = await Promise.all(
    nodes.map(async (node) => {
      try {
        return `${node.port}:${(await clusterInfo(node)).get('cluster_state') ?? '?'}`;
      } catch {
        return `${node.port}:unreachable`;
      }
    }),
  );
  const bad = states.filter((s) => !s.endsWith(':ok'));
  return bad.length === 0 ? undefined : bad.join(' ');
}

async function waitClusterOk(
  nodes: readonly RedisNodeLayout[],
  what: string,
  timeoutMs: number,
  extra?: () => Promise<string | undefined>,
): Promise<void> {
  await waitFor(
    what,
    async () => {
      const problems =
        (await clusterProblems(nodes.map(endpointOf))) ?? (await extra?.()) ?? undefined;
      if (problems !== undefined) throw new Error(problems);
      return true;
    },
    {
      timeoutMs,
      intervalMs: 250,
      server: 'redis-cluster',
      ...(nodes[0] === undefined ? {} : { logFile: nodes[0].logFile }),
    },
  );
}

/**
 * Starts the six cluster nodes and, the first time only, joins them into a cluster. Later, nodes
 * rejoin on their own from their nodes.conf; we only wait for cluster_state:ok.
 */
export async function upRedisCluster(layout: SandboxLayout, ctx: StartContext): Promise<void> {
  const startedAt = performance.now();
  const nodes = layout.redisCluster;
  await Promise.all(nodes.map((node) => ensureRedisNode(node, true, ctx)));
  const infos = await Promise.all(nodes.map((node) => clusterInfo(node)));
  const fresh = infos.every(
    (info) => info.get('cluster_known_nodes') === '1' && info.get('cluster_slots_assigned') === '0',
  );
  if (fresh) {
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${LOOPBACK}:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeoutMs: ctx.timeoutMs },
    );
    ctx.progress(`redis-cluster: created (3 primaries, 1 replica each) in ${elapsed(startedAt)}`);
  }
  try {
    await waitClusterOk(nodes, 'redis-cluster: cluster_state ok', ctx.timeoutMs, () =>
      unlinkedReplicas(nodes),
    );
  } catch (error) {
    if (error instanceof SandboxError) {
      error.message +=
        '\n  (if the nodes.conf files disagree, `npm run sandbox -- reset` starts from nothing)';
    }
    throw error;
  }
  ctx.progress(`redis-cluster: cluster_state ok on all 6 nodes in ${elapsed(startedAt)}`);
}

/** Undefined when every replica's link to its primary is up; otherwise which are not. */
async function unlinkedReplicas(nodes: readonly RedisNodeLayout[]): Promise<string | undefined> {
  const down: string[] = [];
  for (const node of nodes) {
    const replication = parseInfo(await redisCommand(endpointOf(node), ['INFO', 'replication']));
    if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up') {
      down.push(`${node.port} replica link ${replication.get('master_link_status') ?? '?'}`);
    }
  }
  return down.length === 0 ? undefined : down.join(' ');
}

export async function redisHealth(node: RedisNodeLayout, timeoutMs: number): Promise<string> {
  const info = parseInfo(await redisCommand(endpointOf(node), ['INFO', 'server'], timeoutMs));
  return `Redis ${info.get('redis_version') ?? '?'}, PONG`;
}

export async function clusterNodeHealth(node: RedisNodeLayout, timeoutMs: number): Promise<string> {
  const endpoint = endpointOf(node);
  const cluster = parseInfo(await redisCommand(endpoint, ['CLUSTER', 'INFO'], timeoutMs));
  const replication = parseInfo(await redisCommand(endpoint, ['INFO', 'replication'], timeoutMs));
  const state = cluster.get('cluster_state') ?? '?';
  const role =
    replication.get('role') === 'master'
      ? 'primary'
      : `replica of :${replication.get('master_port') ?? '?'} (link ${replication.get('master_link_status') ?? '?'})`;
  if (state !== 'ok') throw new Error(`cluster_state:${state}, ${role}`);
  return `${role}, cluster_state ok`;
}

// ---------------------------------------------------------------------------------------------
// Fault helpers

async function liveView(nodes: readonly RedisNodeLayout[]): Promise<ClusterNodeEntry[]> {
  for (const node of nodes) {
    try {
      return await clusterNodes(endpointOf(node));
    } catch {
      // try the next node
    }
  }
  throw new SandboxError(SandboxErrorCode.startFailed, 'redis-cluster: no node answers', {
    server: 'redis-cluster',
  });
}

/** Bound on a failover's effect (node timeout + election + gossip, with room to spare). */
const FAILOVER_TIMEOUT_MS = 20_000;

/**
 * SIGKILLs one cluster primary (the `index`-th by port among the current primaries; default the
 * first) and waits until every other node has marked it failed, a replica took its slots and
 * cluster_state is ok again (a few seconds after `cluster-node-timeout`). Returns its endpoint.
 */
export async function killClusterPrimary(
  info: SandboxInfo,
  index = 0,
  options: { readonly timeoutMs?: number } = {},
): Promise<Endpoint> {
  const nodes = layoutOf(info).redisCluster;
  const primaries = (await liveView(nodes))
    .filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.length > 0)
    .sort((a, b) => a.port - b.port);
  const target = primaries[index];
  const node = nodes.find((n) => n.port === target?.port);
  if (target === undefined || node === undefined) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `cluster primary index must be 0 to ${primaries.length - 1}; got ${index}`,
    );
  }
  // A primary whose replica has not synced yet would not be failed over: wait for one online.
  await waitFor(
    `redis-cluster: a synced replica of ${node.name}`,
    async () => {
      const replication = parseInfo(await redisCommand(endpointOf(node), ['INFO', 'replication']));
      const online = [...replication.entries()].some(
        ([key, value]) => /^slave\d+$/.test(key) && value.includes('state=online'),
      );
      return online ? true : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? FAILOVER_TIMEOUT_MS,
      server: node.name,
      logFile: node.logFile,
    },
  );
  const killed = await killServer(node);
  if (killed === undefined) {
    throw new SandboxError(
      SandboxErrorCode.startFailed,
      `${node.name}: no live process of ours in ${node.pidFile}`,
      { server: node.name },
    );
  }
  const survivors = nodes.filter((n) => n !== node);
  try {
    await waitClusterOk(
      survivors,
      `redis-cluster: failover of ${node.name} (127.0.0.1:${node.port})`,
      options.timeoutMs ?? FAILOVER_TIMEOUT_MS,
      async () => {
        for (const survivor of survivors) {
          const entry = (await clusterNodes(endpointOf(survivor))).find((n) => n.id === target.id);
          if (!entry?.flags.includes('fail')) return `${survivor.port} does not see it failed yet`;
        }
        return undefined;
      },
    );
  } catch (error) {
    if (error instanceof SandboxError) {
      error.message += `\n  (${node.name} stays killed; startClusterNode brings it back)`;
    }
    throw error;
  }
  return { host: LOOPBACK, port: node.port };
}

/**
 * Starts a cluster node again (after `killClusterPrimary`) and waits until it has rejoined, as a
 * replica of the node that took its slots, and every node reports cluster_state ok with no node
 * flagged as failing.
 */
export async function startClusterNode(
  info: SandboxInfo,
  endpoint: Endpoint,
  options: { readonly timeoutMs?: number } = {},
): Promise<void> {
  const nodes = layoutOf(info).redisCluster;
  const node = nodes.find((n) => n.port === endpoint.port);
  if (node === undefined) {
    throw new SandboxError(
      SandboxErrorCode.badOption,
      `${endpoint.host}:${endpoint.port} is not a node of the sandbox's Redis Cluster`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  await ensureRedisNode(node, true, {
    timeoutMs,
    progress: () => undefined,
    started: new Set(),
    isRoot: isRootUser(),
  });
  await waitClusterOk(nodes, `redis-cluster: ${node.name} rejoining`, timeoutMs, async () => {
    const replication = parseInfo(await redisCommand(endpointOf(node), ['INFO', 'replication']));
    if (replication.get('role') !== 'master' && replication.get('master_link_status') !== 'up') {
      return `${node.name} replication link ${replication.get('master_link_status') ?? '?'}`;
    }
    for (const other of nodes) {
      const flagged = (await clusterNodes(endpointOf(other))).filter(
        (n) => n.flags.includes('fail') || n.flags.includes('fail?'),
      );
      if (flagged.length > 0)
        return `${other.port} still flags ${flagged.map((n) => n.port).join(',')}`;
    }
    return undefined;
  });
}
