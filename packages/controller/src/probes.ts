import { Socket } from 'node:net';
import {
  redactCredentials,
  uriHostPort,
  formatHostPort,
  type Endpoint,
  type KvGroup,
  type SqlEndpoint,
} from '@switchboard/runtime';
import type { ClusterAdmin, SqlNodeStatus, SqlRouter } from '@switchboard/storage';
import { createConnection, type RowDataPacket } from 'mysql2/promise';

/** What the leader learns about one SQL server per round. */
export interface SqlProbe extends SqlEndpoint {
  readonly role: 'primary' | 'replica';
  /** GTID-based lag the router measures; undefined for the primary or when unknown. */
  readonly lagMs?: number;
  readonly ioRunning?: boolean;
  readonly sqlRunning?: boolean;
  readonly secondsBehind?: number | null;
  readonly lastError?: string;
}

export interface KvProbe {
  readonly state: 'ok' | 'fail' | 'unknown';
  readonly groups: readonly (KvGroup & {
    readonly memoryUsedBytes: number | null;
    readonly keys: number | null;
  })[];
  readonly findings: readonly { severity: string; code: string; message: string }[];
  readonly error?: string;
}

export interface Probes {
  readonly sql: { primary: SqlProbe | null; replicas: SqlProbe[] };
  readonly kv: KvProbe;
  readonly bus: Endpoint[];
  readonly search: Endpoint[];
}

export interface ProbeOptions {
  /** The router over the configured servers: its health monitor measures reachability and lag. */
  readonly sql: SqlRouter;
  /** The configured replica URIs, for the replication-thread query. */
  readonly replicaUris: readonly string[];
  readonly cluster: ClusterAdmin;
  readonly amqpUrls: readonly string[];
  readonly searchNodes: readonly string[];
  readonly timeoutMs: number;
}

function message(error: unknown): string {
  return redactCredentials(error instanceof Error ? error.message : String(error));
}

async function bounded<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`${what} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

interface ReplicationThreads {
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  readonly secondsBehind: number | null;
  readonly lastError?: string;
}

/**
 * `SHOW REPLICA STATUS` (MariaDB ≥ 10.5, MySQL ≥ 8.0.22), falling back to `SHOW SLAVE STATUS`;
 * column names differ between the two servers and versions, so both spellings are read.
 */
async function replicationThreads(uri: string, timeoutMs: number): Promise<ReplicationThreads> {
  const connection = await createConnection({ uri, connectTimeout: timeoutMs });
  try {
    let rows: RowDataPacket[];
    try {
      [rows] = await connection.query<RowDataPacket[]>({
        sql: 'SHOW REPLICA STATUS',
        timeout: timeoutMs,
      });
    } catch {
      [rows] = await connection.query<RowDataPacket[]>({
        sql: 'SHOW SLAVE STATUS',
        timeout: timeoutMs,
      });
    }
    const row = rows[0];
    if (row === undefined)
      return {
        ioRunning: false,
        sqlRunning: false,
        secondsBehind: null,
        lastError: 'not a replica',
      };
    const pick = (...names: string[]): unknown =>
      names.map((n): unknown => (row as Record<string, unknown>)[n]).find((v) => v !== undefined);
    const io = pick('Replica_IO_Running', 'Slave_IO_Running');
    const sql = pick('Replica_SQL_Running', 'Slave_SQL_Running');
    const behind = pick('Seconds_Behind_Source', 'Seconds_Behind_Master');
    const ioError = pick('Last_IO_Error');
    const sqlError = pick('Last_SQL_Error');
    const lastError = [ioError, sqlError]
      .filter((e) => typeof e === 'string' && e !== '')
      .join('; ');
    return {
      ioRunning: io === 'Yes',
      sqlRunning: sql === 'Yes',
      secondsBehind: typeof behind === 'number' ? behind : behind == null ? null : Number(behind),
      ...(lastError === '' ? {} : { lastError: redactCredentials(lastError) }),
    };
  } finally {
    connection.destroy();
  }
}

function addressOfUri(uri: string): string {
  return formatHostPort(uriHostPort(uri));
}

async function probeSql(options: ProbeOptions, maxLagMs: number): Promise<Probes['sql']> {
  const statuses = options.sql.nodes();
  const byName = new Map<string, SqlNodeStatus>(statuses.map((s) => [s.name, s]));
  const primary = statuses.find((s) => s.role === 'primary');
  const primaryProbe: SqlProbe | null =
    primary === undefined
      ? null
      : {
          role: 'primary',
          address: primary.name,
          healthy: !primary.ejected,
          ...(primary.ejected ? { reason: 'unreachable' } : {}),
        };
  const replicas = await Promise.all(
    options.replicaUris.map(async (uri): Promise<SqlProbe> => {
      const address = addressOfUri(uri);
      const status = byName.get(address);
      let threads: ReplicationThreads | undefined;
      let unreachable: string | undefined;
      try {
        threads = await bounded(
          replicationThreads(uri, options.timeoutMs),
          options.timeoutMs,
          address,
        );
      } catch (error) {
        unreachable = message(error);
      }
      const lagMs = status?.lagMs;
      const reason =
        unreachable !== undefined
          ? `unreachable: ${unreachable}`
          : threads !== undefined && !threads.ioRunning
            ? 'replication IO thread stopped'
            : threads !== undefined && !threads.sqlRunning
              ? 'replication SQL thread stopped'
              : status?.ejected === true
                ? 'unreachable (router ejected it)'
                : lagMs !== undefined && lagMs > maxLagMs
                  ? `lagging ${Math.round(lagMs)} ms (limit ${maxLagMs} ms)`
                  : undefined;
      return {
        role: 'replica',
        address,
        healthy: reason === undefined,
        ...(reason === undefined ? {} : { reason }),
        ...(lagMs === undefined ? {} : { lagMs }),
        ...(threads === undefined
          ? {}
          : {
              ioRunning: threads.ioRunning,
              sqlRunning: threads.sqlRunning,
              secondsBehind: threads.secondsBehind,
              ...(threads.lastError === undefined ? {} : { lastError: threads.lastError }),
            }),
      };
    }),
  );
  return { primary: primaryProbe, replicas };
}

async function probeKv(options: ProbeOptions): Promise<KvProbe> {
  try {
    const layout = await bounded(options.cluster.layout(), options.timeoutMs * 2, 'Redis Cluster');
    const errors = layout.findings.filter((f) => f.severity === 'error');
    return {
      state: errors.length === 0 ? 'ok' : 'fail',
      groups: layout.groups.map((g) => ({
        id: g.id,
        primary: g.primary.address,
        replicas: g.replicas.map((r) => r.address),
        slots: g.slotCount,
        memoryUsedBytes: g.memoryUsedBytes ?? null,
        keys: g.keys ?? null,
      })),
      findings: layout.findings.map((f) => ({
        severity: f.severity,
        code: f.code,
        message: f.message,
      })),
    };
  } catch (error) {
    return { state: 'unknown', groups: [], findings: [], error: message(error) };
  }
}

/** A TCP connect: enough to tell a broker or a search node is listening. */
function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.connect(port, host, () => {
      done(true);
    });
  });
}

async function probeEndpoints(uris: readonly string[], timeoutMs: number): Promise<Endpoint[]> {
  return Promise.all(
    uris.map(async (uri) => {
      const { host, port } = uriHostPort(uri);
      return {
        address: formatHostPort({ host, port }),
        reachable: await tcpReachable(host, port, timeoutMs),
      };
    }),
  );
}

/** Everything the leader checks that nodes cannot report themselves, all at once and bounded. */
export async function runProbes(options: ProbeOptions, maxLagMs: number): Promise<Probes> {
  const [sql, kv, bus, search] = await Promise.all([
    probeSql(options, maxLagMs),
    probeKv(options),
    probeEndpoints(options.amqpUrls, options.timeoutMs),
    probeEndpoints(options.searchNodes, options.timeoutMs),
  ]);
  return { sql, kv, bus, search };
}
