// A test double of drachtio-server's control protocol, so the real drachtio-srf client (through
// createDrachtioAdapter) can be driven end to end on a loopback socket. It speaks the framing
// (`<byte length>#<payload>`) and the messages drachtio-srf 5 sends and expects (see
// drachtio-srf/lib/wire-protocol.js and drachtio-agent.js):
//
//   app → server   <id>|authenticate|<secret>|<tags>
//   server → app   <id>|response|<request id>|OK|<hostport>|<version>|<local hostports>   (or NOK)
//   app → server   <id>|route|<method>
//   server → app   <id>|sip|network|<len>|<transport>|<addr>|<port>|<time>|<txn>|<dialog>|<addr>|<port>\r\n<SIP>
//   app → server   <id>|sip|<txn>|<dialog>\r\n<SIP response or new request>
//   server → app   <id>|response|<request id>|OK|application|<len>|<transport>|<addr>|<port>|<time>|<txn>|<dialog>\r\n<SIP as sent>
//
// It is not a SIP stack: no retransmissions, no dialogs of its own. A request the app sends
// (an OPTIONS ping) is answered by `answerAppRequest`.
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

const CRLF = '\r\n';

/** A SIP message as the double saw it, with its start line and headers parsed loosely. */
export interface SipText {
  readonly raw: string;
  readonly startLine: string;
  /** Header values by lower-case name (the first occurrence). */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

export interface CapturedResponse extends SipText {
  readonly status: number;
  readonly reason: string;
}

export function parseSip(raw: string): SipText {
  const split = raw.indexOf(CRLF + CRLF);
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split + 4);
  const [startLine = '', ...lines] = head.split(CRLF);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { raw, startLine, headers, body };
}

function asResponse(text: SipText): CapturedResponse {
  const match = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(text.startLine);
  if (match === null) throw new Error(`not a SIP response: ${text.startLine}`);
  return { ...text, status: Number(match[1]), reason: match[2] ?? '' };
}

export interface DrachtioDoubleOptions {
  readonly secret: string;
  /** What the double says it listens on for SIP; default `udp/127.0.0.1:5060`. */
  readonly hostport?: string;
  /** The final status the "network" gives to a request the app sends (OPTIONS pings); default 200. */
  readonly answerAppRequest?: (request: SipText) => number | undefined;
}

export interface InboundOptions {
  readonly sourceAddress?: string;
  readonly sourcePort?: number;
  readonly transport?: string;
  /** Resolve after this long without a final response (rejects); default 5000 ms. */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly provisional: CapturedResponse[];
  readonly resolve: (response: CapturedResponse) => void;
}

interface Connection {
  readonly socket: Socket;
  authenticated: boolean;
  buffer: Buffer;
}

export interface DrachtioDouble {
  readonly port: number;
  /** Authentications accepted so far (one per successful connection). */
  readonly authentications: number;
  /** Authentications refused so far. */
  readonly refusals: number;
  /** Methods (lower case) the authenticated app asked to route, over all connections. */
  readonly routes: ReadonlySet<string>;
  /** Requests the app sent out (OPTIONS pings), as they arrived. */
  readonly appRequests: readonly SipText[];
  /** Whether an authenticated app is connected now. */
  readonly appConnected: boolean;
  /** Resolves once an authenticated app has routed `methods` (lower case). */
  waitForApp(methods?: readonly string[], timeoutMs?: number): Promise<void>;
  /** Delivers a SIP request from "the network" and resolves with the app's final response. */
  sendRequest(
    raw: string,
    options?: InboundOptions,
  ): Promise<CapturedResponse & { provisional: readonly CapturedResponse[] }>;
  /** Drops every app connection, as a restarting drachtio-server would. */
  dropConnections(): void;
  close(): Promise<void>;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Starts a double on 127.0.0.1, on a free port. */
export async function startDrachtioDouble(options: DrachtioDoubleOptions): Promise<DrachtioDouble> {
  const hostport = options.hostport ?? 'udp/127.0.0.1:5060';
  const connections = new Set<Connection>();
  const routes = new Set<string>();
  const pending = new Map<string, Pending>();
  const appRequests: SipText[] = [];
  let authentications = 0;
  let refusals = 0;

  function send(connection: Connection, payload: string): void {
    const message = `${randomUUID()}|${payload}`;
    connection.socket.write(`${String(Buffer.byteLength(message, 'utf8'))}#${message}`);
  }

  function onMessage(connection: Connection, message: string): void {
    const lineEnd = message.indexOf(CRLF);
    const leader = lineEnd === -1 ? message : message.slice(0, lineEnd);
    const sip = lineEnd === -1 ? '' : message.slice(lineEnd + 2);
    const token = leader.split('|');
    const id = token[0] ?? '';
    switch (token[1] ?? '') {
      case 'authenticate': {
        if (token[2] === options.secret) {
          connection.authenticated = true;
          authentications += 1;
          send(connection, `response|${id}|OK|${hostport}|v0.9.5-double|${hostport}`);
        } else {
          refusals += 1;
          send(connection, `response|${id}|NOK|incorrect secret`);
          connection.socket.end();
        }
        return;
      }
      case 'route':
        if (connection.authenticated && token[2] !== undefined) routes.add(token[2]);
        send(connection, `response|${id}|OK`);
        return;
      case 'sip':
        onAppSip(connection, id, token[2] ?? '', token[3] ?? '', sip);
        return;
      default:
        // ping, remove_route, proxy...: acknowledged, not acted on.
        send(connection, `response|${id}|OK`);
    }
  }

  function onAppSip(
    connection: Connection,
    id: string,
    txnId: string,
    dialogId: string,
    raw: string,
  ): void {
    const text = parseSip(raw);
    const time = new Date().toISOString();
    if (text.startLine.startsWith('SIP/2.0')) {
      send(
        connection,
        `response|${id}|OK|application|${String(raw.length)}|udp|127.0.0.1|5060|${time}|${txnId}|${dialogId}${CRLF}${raw}`,
      );
      const response = asResponse(text);
      const waiting = pending.get(txnId);
      if (waiting === undefined) return;
      if (response.status < 200) {
        waiting.provisional.push(response);
        return;
      }
      pending.delete(txnId);
      waiting.resolve(response);
      return;
    }
    // A request of the app's own (outside a dialog): echo it as sent, then answer it.
    appRequests.push(text);
    const newTxn = randomUUID();
    const callId = text.headers.get('call-id') ?? randomUUID();
    const sent = raw
      .replace(/^Call-ID:.*$/im, `Call-ID: ${callId}`)
      .replace(/^(Via:[^\r\n]*)$/im, '$1;branch=z9hG4bK-double');
    send(
      connection,
      `response|${id}|OK|application|${String(sent.length)}|udp|127.0.0.1|5060|${time}|${newTxn}|${CRLF}${sent}`,
    );
    const status = options.answerAppRequest?.(text) ?? 200;
    const request = parseSip(sent);
    const answer = [
      `SIP/2.0 ${String(status)} Answer`,
      `Via: ${request.headers.get('via') ?? 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-double'}`,
      `From: ${request.headers.get('from') ?? '<sip:edge@127.0.0.1>'}`,
      `To: ${request.headers.get('to') ?? '<sip:pbx@127.0.0.1>'};tag=double`,
      `Call-ID: ${callId}`,
      `CSeq: ${request.headers.get('cseq') ?? '1 OPTIONS'}`,
      'Content-Length: 0',
      '',
      '',
    ].join(CRLF);
    setImmediate(() => {
      send(
        connection,
        `sip|network|${String(answer.length)}|udp|127.0.0.1|5080|${time}|${newTxn}||127.0.0.1|5060${CRLF}${answer}`,
      );
    });
  }

  const server: Server = createServer((socket) => {
    const connection: Connection = { socket, authenticated: false, buffer: Buffer.alloc(0) };
    connections.add(connection);
    socket.on('close', () => connections.delete(connection));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      connection.buffer = Buffer.concat([connection.buffer, chunk]);
      for (;;) {
        const hash = connection.buffer.indexOf('#');
        if (hash <= 0) return;
        const length = Number(connection.buffer.toString('utf8', 0, hash));
        if (connection.buffer.length < hash + 1 + length) return;
        const message = connection.buffer.toString('utf8', hash + 1, hash + 1 + length);
        connection.buffer = connection.buffer.subarray(hash + 1 + length);
        onMessage(connection, message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('double has no port');

  const authenticatedConnection = (): Connection | undefined =>
    [...connections].find((c) => c.authenticated && !c.socket.destroyed);

  return {
    port: address.port,
    get authentications() {
      return authentications;
    },
    get refusals() {
      return refusals;
    },
    routes,
    appRequests,
    get appConnected() {
      return authenticatedConnection() !== undefined;
    },
    async waitForApp(methods = [], timeoutMs = 5000) {
      await until(
        () => authenticatedConnection() !== undefined && methods.every((m) => routes.has(m)),
        timeoutMs,
        `an authenticated app routing ${methods.join(', ') || 'anything'}`,
      );
    },
    sendRequest(raw, inbound = {}) {
      const connection = authenticatedConnection();
      if (connection === undefined) return Promise.reject(new Error('no app connected'));
      const txnId = randomUUID();
      const timeoutMs = inbound.timeoutMs ?? 5000;
      return new Promise((resolve, reject) => {
        const provisional: CapturedResponse[] = [];
        const timer = setTimeout(() => {
          pending.delete(txnId);
          reject(new Error(`no final response within ${String(timeoutMs)} ms`));
        }, timeoutMs);
        pending.set(txnId, {
          provisional,
          resolve: (response) => {
            clearTimeout(timer);
            resolve({ ...response, provisional });
          },
        });
        const time = new Date().toISOString();
        send(
          connection,
          [
            'sip',
            'network',
            String(raw.length),
            inbound.transport ?? 'udp',
            inbound.sourceAddress ?? '127.0.0.1',
            String(inbound.sourcePort ?? 5070),
            time,
            txnId,
            '',
            '127.0.0.1',
            '5060',
          ].join('|') +
            CRLF +
            raw,
        );
      });
    },
    dropConnections() {
      for (const connection of connections) connection.socket.destroy();
    },
    async close() {
      for (const connection of connections) connection.socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** A SIP request as a UA would send it; `headers` are added after the mandatory ones. */
export function sipRequest(
  method: string,
  uri: string,
  options: { headers?: readonly string[]; body?: string; callId?: string; cseq?: number } = {},
): string {
  const body = options.body ?? '';
  const user = /^sips?:([^@]+)@/.exec(uri)?.[1] ?? 'anonymous';
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${randomUUID()}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@localhost>;tag=${randomUUID().slice(0, 8)}`,
    `To: <${uri}>`,
    `Call-ID: ${options.callId ?? randomUUID()}`,
    `CSeq: ${String(options.cseq ?? 1)} ${method}`,
    `Contact: <sip:${user}@127.0.0.1:5070>`,
    ...(options.headers ?? []),
    ...(body === '' ? [] : ['Content-Type: application/sdp']),
    `Content-Length: ${String(Buffer.byteLength(body))}`,
    '',
    body,
  ].join(CRLF);
}
