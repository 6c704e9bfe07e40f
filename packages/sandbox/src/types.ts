/** A server address on loopback. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface SqlNodeInfo extends Endpoint {
  /** `primary`, `replica-1`, `replica-2`. */
  readonly name: string;
  /** mysql2 connection URI, e.g. `mysql://root@127.0.0.1:17400`. */
  readonly uri: string;
}

/**
 * Where the sandbox's servers listen. `up()` returns it, and it is also written to
 * `<root>/sandbox.json` so other processes (benches, `npm start`, tests) can read it.
 */
export interface SandboxInfo {
  /** The sandbox's data folder (absolute). */
  readonly root: string;
  readonly portBase: number;
  readonly mariadb: {
    readonly user: string;
    readonly password: string;
    /** The platform database (`switchboard`), on every node; node URIs name no database. */
    readonly database: string;
    readonly primary: SqlNodeInfo;
    readonly replicas: readonly SqlNodeInfo[];
  };
  readonly redis: Endpoint & { readonly url: string };
  readonly redisCluster: {
    readonly nodes: readonly Endpoint[];
    /** `cluster-node-timeout`: a failover completes a few seconds after this. */
    readonly nodeTimeoutMs: number;
  };
  readonly rabbitmq: Endpoint & {
    readonly url: string;
    /** Erlang node name of the sandbox's own RabbitMQ (not the machine's). */
    readonly nodeName: string;
  };
  /**
   * An s3rver instance. With @aws-sdk/client-s3's default checksum settings, a streamed
   * PutObject to s3rver stores the aws-chunked framing inside the object, so clients must set
   * `requestChecksumCalculation: 'WHEN_REQUIRED'` and `responseChecksumValidation: 'WHEN_REQUIRED'`.
   */
  readonly s3: {
    readonly endpoint: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly forcePathStyle: true;
    /** A bucket created when the server starts (the daemons' default under `npm start`). */
    readonly bucket: string;
  };
}

export interface SandboxOptions {
  /** Data, logs and pid files; default `<checkout>/.sandbox`. */
  readonly root?: string;
  /** First port of the sandbox's dedicated range; default 17400. */
  readonly portBase?: number;
  /** Bound on waiting for each server to become ready; default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Progress lines (`mariadb primary: ready in 2.1 s`); default: none. */
  readonly onProgress?: (line: string) => void;
}
