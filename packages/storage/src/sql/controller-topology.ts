import {
  formatHostPort,
  tryParseHostPort,
  type Logger,
  type SqlEndpoint,
  type Topology,
} from '@switchboard/runtime';
import {
  resolveTopology,
  type SqlNodeConfig,
  type SqlNodeInput,
  type SqlTopology,
} from './config.js';

/** `host:port` as the router and the controller both name a server (IPv6 bracketed). */
function addressKey(host: string | undefined, port: number | undefined): string {
  return formatHostPort({ host: host ?? 'localhost', port: port ?? 3306 });
}

function normalise(address: string): string | undefined {
  const parsed = tryParseHostPort(address);
  return parsed === undefined ? undefined : formatHostPort(parsed);
}

/**
 * A replica the controller knows and the configuration does not: the primary's credentials,
 * database and pool options, pointed at the new address. A URI primary gives a URI replica (its
 * label reads like the configured ones); any other primary gives explicit connection options.
 */
function discoveredReplica(primary: SqlNodeInput, address: string): SqlNodeInput {
  const parsed = tryParseHostPort(address);
  if (parsed === undefined) return address; // unreachable: callers pass normalised addresses
  const node: SqlNodeConfig = typeof primary === 'string' ? { uri: primary } : primary;
  if (node.uri !== undefined && node.connection === undefined) {
    const url = new URL(node.uri);
    url.host = formatHostPort(parsed);
    return { uri: url.toString(), name: address };
  }
  const resolved = resolveTopology({ primary }).primary;
  return {
    connection: { ...resolved.options, host: parsed.host, port: parsed.port },
    name: address,
  };
}

/**
 * The SQL topology a router should use, given its configuration and the controller's view. The
 * primary stays the configured one: the controller reports health, it does not carry
 * credentials, and promoting a primary is an operator's act. Replicas are the configured ones the
 * controller reports healthy, plus the healthy ones it lists that the configuration does not know
 * (built from the primary's credentials and database); a replica reported unhealthy, or no longer
 * listed, is left out, since the controller is the cluster's view of membership. A controller with
 * no SQL data (no primary, no replicas) leaves the configured topology unchanged, so a node whose
 * controller does not watch SQL keeps its configured replicas.
 */
export function sqlTopologyFromController(
  configured: SqlTopology,
  sql: Topology['sql'],
): SqlTopology {
  if (sql.primary === null && sql.replicas.length === 0) return configured;
  const resolved = resolveTopology(configured);
  const primaryKey = addressKey(resolved.primary.options.host, resolved.primary.options.port);
  const reported = new Map<string, SqlEndpoint>();
  for (const endpoint of sql.replicas) {
    const key = normalise(endpoint.address);
    if (key !== undefined && key !== primaryKey) reported.set(key, endpoint);
  }

  const inputs = configured.replicas ?? [];
  const replicas: SqlNodeInput[] = [];
  const known = new Set<string>();
  resolved.replicas.forEach((replica, i) => {
    const key = addressKey(replica.options.host, replica.options.port);
    known.add(key);
    const input = inputs[i];
    if (input !== undefined && reported.get(key)?.healthy === true) replicas.push(input);
  });
  for (const [key, endpoint] of reported) {
    if (!known.has(key) && endpoint.healthy)
      replicas.push(discoveredReplica(configured.primary, key));
  }
  return { primary: configured.primary, replicas };
}

/** The replicas' `host:port`, sorted: what tells two topologies' read pools apart. */
export function sqlReplicaAddresses(topology: SqlTopology): string[] {
  return resolveTopology(topology)
    .replicas.map((replica) => addressKey(replica.options.host, replica.options.port))
    .sort();
}

/** What `followControllerTopology` changed. */
export interface SqlTopologyChange {
  readonly left: readonly string[];
  readonly joined: readonly string[];
  readonly replicas: readonly string[];
}

/**
 * Keeps a router's replicas on the controller's view: each `apply` computes the topology
 * (`sqlTopologyFromController`) and calls `router.setTopology` only when the set of replica
 * addresses moved — most topology versions are about other things, and re-resolving the same set
 * would only make noise. It logs each change, and a topology it cannot apply (the router keeps
 * its replicas); it never throws. Returns what changed, or undefined when nothing did.
 */
export function followControllerTopology(
  router: { setTopology(topology: SqlTopology): void },
  configured: SqlTopology,
  logger: Logger,
): { apply(topology: Pick<Topology, 'version' | 'sql'>): SqlTopologyChange | undefined } {
  let applied = sqlReplicaAddresses(configured);
  return {
    apply(topology) {
      try {
        const next = sqlTopologyFromController(configured, topology.sql);
        const replicas = sqlReplicaAddresses(next);
        if (replicas.join(',') === applied.join(',')) return undefined;
        const left = applied.filter((r) => !replicas.includes(r));
        const joined = replicas.filter((r) => !applied.includes(r));
        router.setTopology(next);
        applied = replicas;
        logger.info(
          { topologyVersion: topology.version, left, joined, replicas },
          'SQL replicas changed by the controller',
        );
        return { left, joined, replicas };
      } catch (error) {
        logger.warn(
          { err: error, topologyVersion: topology.version },
          'cannot apply the SQL topology from the controller; keeping the current replicas',
        );
        return undefined;
      }
    },
  };
}
