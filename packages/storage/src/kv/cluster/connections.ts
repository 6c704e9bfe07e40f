import { Redis } from 'ioredis';
import { KvClusterError, KvClusterErrorCode } from './errors.js';
import { parseAddress } from './nodes.js';

export interface NodeConnectionOptions {
  readonly username?: string;
  readonly password?: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

/**
 * One plain (non-cluster) connection per node, opened on first use. Administration talks to
 * each node directly (`CLUSTER SETSLOT` and `MIGRATE` are per-node), so the cluster client's
 * redirections would only get in the way. A connection that ends is dropped and reopened on
 * the next call; nothing reconnects in the background.
 */
export class NodeConnections {
  readonly #options: NodeConnectionOptions;
  readonly #open = new Map<string, Redis>();
  #closed = false;

  constructor(options: NodeConnectionOptions) {
    this.#options = options;
  }

  /** Sends one command to the node at `address`; errors carry the node and the command. */
  async call(address: string, command: string, ...args: (string | number)[]): Promise<unknown> {
    const client = this.#client(address);
    try {
      return await client.call(command, args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const shown = [command, ...args.slice(0, 3)].join(' ');
      if (isConnectionFailure(client, message)) {
        throw new KvClusterError(
          KvClusterErrorCode.Unreachable,
          `redis ${address} did not answer ${shown}: ${message}`,
          { cause: error },
        );
      }
      throw Object.assign(new Error(`redis ${address}: ${shown}: ${message}`, { cause: error }), {
        redisMessage: message,
      });
    }
  }

  /** Sends several commands to one node in a single round trip; per-command errors come back as Errors. */
  async pipeline(
    address: string,
    commands: readonly (readonly (string | number)[])[],
  ): Promise<unknown[]> {
    const client = this.#client(address);
    const pipeline = client.pipeline();
    for (const [command, ...args] of commands) pipeline.call(String(command), args);
    const results = await pipeline.exec();
    if (results === null) {
      throw new KvClusterError(KvClusterErrorCode.Unreachable, `redis ${address}: pipeline lost`);
    }
    return results.map(([error, value]) => error ?? value);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const clients = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(
      clients.map(async (client) => {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  #client(address: string): Redis {
    if (this.#closed) {
      throw new KvClusterError(KvClusterErrorCode.Unreachable, 'the cluster admin is closed');
    }
    const existing = this.#open.get(address);
    if (existing !== undefined && existing.status !== 'end') return existing;
    const { host, port } = parseAddress(address);
    const client = new Redis({
      host,
      port,
      ...(this.#options.username === undefined ? {} : { username: this.#options.username }),
      ...(this.#options.password === undefined ? {} : { password: this.#options.password }),
      connectTimeout: this.#options.connectTimeoutMs,
      commandTimeout: this.#options.commandTimeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: false,
    });
    // Failures surface through the command that met them; the event would only be noise.
    client.on('error', () => undefined);
    client.once('end', () => {
      if (this.#open.get(address) === client) this.#open.delete(address);
    });
    this.#open.set(address, client);
    return client;
  }
}

function isConnectionFailure(client: Redis, message: string): boolean {
  return (
    client.status !== 'ready' ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|Command timed out|EHOSTUNREACH/.test(
      message,
    )
  );
}

/** The server's error text (e.g. `BUSYKEY ...`, `ERR I still hold keys`), when the call got one. */
export function redisErrorText(error: unknown): string | undefined {
  const text = (error as { redisMessage?: unknown } | null)?.redisMessage;
  return typeof text === 'string' ? text : undefined;
}
