import { redactCredentials, SwitchboardError } from '@switchboard/runtime';

/** The stable codes of the bus and the bridge; a docs table lists each with its meaning. */
export const BusErrorCode = {
  /** `publish()` while disconnected and the bounded buffer is full; retry later. */
  BufferFull: 'SWB_BUS_BUFFER_FULL',
  /** The broker returned a `mandatory` message: no queue is bound for its routing key. */
  Unroutable: 'SWB_BUS_UNROUTABLE',
  /** The broker refused the message (`basic.nack`), e.g. a queue over its length limit. */
  Nacked: 'SWB_BUS_NACKED',
  /** `publishEvent()` with a payload that fails the event's schema; nothing was sent. */
  InvalidEvent: 'SWB_BUS_INVALID_EVENT',
  /** The bus is closed (or closing) and takes no more work. */
  Closed: 'SWB_BUS_CLOSED',
  /** No broker answered (start, or a publish that could not wait). */
  Unavailable: 'SWB_BUS_UNAVAILABLE',
  /** The broker refused the configured topology (e.g. a queue redeclared with other arguments). */
  Topology: 'SWB_BUS_TOPOLOGY',
  /** Bad options given to the bus or the bridge (a programming error). */
  InvalidArgument: 'SWB_BUS_INVALID_ARGUMENT',
  /** The bridge could not store a job in BullMQ; the AMQP message stays unacked and comes back. */
  BridgeStore: 'SWB_BUS_BRIDGE_STORE',
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

const retryableCodes: ReadonlySet<BusErrorCode> = new Set<BusErrorCode>([
  BusErrorCode.BufferFull,
  BusErrorCode.Nacked,
  BusErrorCode.Unavailable,
  BusErrorCode.BridgeStore,
]);

type Options = { readonly cause?: unknown };

/** The base of every bus error: `code` is one of `BusErrorCode`, `retryable` follows from it. */
export class BusError extends SwitchboardError {
  override name = 'BusError';
  declare readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options: Options = {}) {
    super(code, message, {
      ...options,
      retryable: retryableCodes.has(code),
      statusCode: code === BusErrorCode.InvalidEvent ? 400 : 503,
    });
  }
}

export class BusBufferFullError extends BusError {
  override name = 'BusBufferFullError';
  readonly limit: { readonly messages: number; readonly bytes: number };
  constructor(limit: { readonly messages: number; readonly bytes: number }) {
    super(
      BusErrorCode.BufferFull,
      `the bus is disconnected and its publish buffer is full (${limit.messages} messages / ${limit.bytes} bytes)`,
    );
    this.limit = limit;
  }
}

export class BusUnroutableError extends BusError {
  override name = 'BusUnroutableError';
  readonly exchange: string;
  readonly routingKey: string;
  readonly replyText: string;
  constructor(exchange: string, routingKey: string, replyText: string) {
    super(
      BusErrorCode.Unroutable,
      `message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)} was returned: ${replyText}`,
    );
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.replyText = replyText;
  }
}

export class BusNackedError extends BusError {
  override name = 'BusNackedError';
  constructor(exchange: string, routingKey: string, options: Options = {}) {
    super(
      BusErrorCode.Nacked,
      `the broker refused the message to ${JSON.stringify(exchange)} / ${JSON.stringify(routingKey)}`,
      options,
    );
  }
}

export class BusInvalidEventError extends BusError {
  override name = 'BusInvalidEventError';
  /** Which field failed and why, e.g. `call.ended: /cdr/callId: expected string`. */
  readonly reason: string;
  constructor(reason: string) {
    super(BusErrorCode.InvalidEvent, `invalid event: ${reason}`);
    this.reason = reason;
  }
}

export class BusClosedError extends BusError {
  override name = 'BusClosedError';
  constructor(message = 'the bus is closed') {
    super(BusErrorCode.Closed, message);
  }
}

export class BusUnavailableError extends BusError {
  override name = 'BusUnavailableError';
  constructor(message: string, options: Options = {}) {
    super(BusErrorCode.Unavailable, message, options);
  }
}

export class BusTopologyError extends BusError {
  override name = 'BusTopologyError';
  constructor(message: string, options: Options = {}) {
    super(BusErrorCode.Topology, message, options);
  }
}

export class BusInvalidArgumentError extends BusError {
  override name = 'BusInvalidArgumentError';
  constructor(message: string) {
    super(BusErrorCode.InvalidArgument, message);
  }
}

export class BridgeStoreError extends BusError {
  override name = 'BridgeStoreError';
  readonly jobId: string | undefined;
  constructor(task: string, jobId: string | undefined, options: Options = {}) {
    super(
      BusErrorCode.BridgeStore,
      `could not store ${task} job ${jobId ?? '(no id)'} in BullMQ`,
      options,
    );
    this.jobId = jobId;
  }
}

/** Whether `err` is a bus error, optionally with the given code. */
export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}

/** An error's message for a log line or a dead-letter reason, with any credentials redacted. */
export function describeError(error: unknown): string {
  return redactCredentials(error instanceof Error ? error.message : String(error));
}

/** Checks an option that must be a positive integer (a count or a limit). */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new BusInvalidArgumentError(`bus: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
