import { connect } from 'node:net';
import type { Endpoint } from './types.js';

/**
 * One Redis command over a fresh connection, for health checks and cluster probes. A full client
 * (ioredis) reconnects, queues and reports to the console when nobody listens for its errors;
 * a probe wants one bounded answer and nothing left behind.
 *
 * Handles the replies these probes get: simple strings, errors, integers and bulk strings.
 */
export function redisCommand(
  endpoint: Endpoint,
  args: readonly string[],
  timeoutMs = 2000,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    let buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, value?: string): void => {
      socket.destroy();
      if (error) reject(error);
      else resolvePromise(value ?? '');
    };
    socket.setTimeout(timeoutMs, () => {
      finish(new Error(`redis ${endpoint.host}:${endpoint.port}: no answer in ${timeoutMs} ms`));
    });
    socket.once('error', (error) => {
      finish(error);
    });
    socket.once('connect', () => {
      socket.write(encodeCommand(args));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const reply = parseReply(buffer);
      if (reply === undefined) return;
      if (reply.error !== undefined) finish(new Error(`redis: ${reply.error}`));
      else finish(undefined, reply.value);
    });
  });
}

export function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** A complete reply, or undefined while more bytes are needed. */
export function parseReply(buffer: Buffer): { value?: string; error?: string } | undefined {
  const lineEnd = buffer.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[0] ?? 0);
  const line = buffer.subarray(1, lineEnd).toString('utf8');
  switch (type) {
    case '+':
    case ':':
      return { value: line };
    case '-':
      return { error: line };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: '' };
      const start = lineEnd + 2;
      if (buffer.length < start + length + 2) return undefined;
      return { value: buffer.subarray(start, start + length).toString('utf8') };
    }
    default:
      return { error: `unsupported reply type ${JSON.stringify(type)}` };
  }
}

/** `key:value` lines of INFO / CLUSTER INFO as a map. */
export function parseInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) map.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return map;
}

/** One line of CLUSTER NODES. */
