import { randomUUID } from 'node:crypto';
import type { ConsumeMessage, Options } from 'amqplib';
import type { PublishOptions } from './bus-types.js';
import { isEventName, type EventEnvelope, type EventName } from './catalogue/events.js';
import { checkEvent } from './catalogue/validate.js';
import { BusInvalidEventError, describeError } from './errors.js';

// What goes on the wire: the event envelope (built, serialised, parsed) and the AMQP properties
// of a publish. Pure functions, shared by the bus, the publisher and the consumers.

/** AMQP publish properties with the message id always set (the publisher tracks confirms by it). */
export type AmqpPublishOptions = Options.Publish & { messageId: string };

/**
 * Validates `payload` against the catalogue and wraps it in an envelope; throws
 * `SWB_BUS_INVALID_EVENT` for an unknown name or a payload that fails its schema.
 */
export function createEnvelope<N extends EventName>(
  name: N,
  payload: unknown,
  source: string,
  messageId: string | undefined,
): EventEnvelope<N> {
  if (!isEventName(name)) throw new BusInvalidEventError(`unknown event ${JSON.stringify(name)}`);
  const checked = checkEvent(name, payload);
  if (!checked.ok) throw new BusInvalidEventError(checked.reason);
  return {
    name,
    id: messageId ?? randomUUID(),
    time: new Date().toISOString(),
    source,
    payload: checked.value,
  };
}

export function serialiseEnvelope(envelope: EventEnvelope): Buffer {
  return Buffer.from(JSON.stringify(envelope));
}

export function toAmqpOptions(options: PublishOptions): AmqpPublishOptions {
  return {
    messageId: options.messageId ?? randomUUID(),
    persistent: options.persistent ?? true,
    mandatory: options.mandatory ?? true,
    timestamp: Math.floor(Date.now() / 1000),
    ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
    ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.expirationMs === undefined ? {} : { expiration: String(options.expirationMs) }),
    ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
  };
}

/** The properties of a copy of a delivery (a retry, a dead letter): its own, plus `extraHeaders`. */
export function copyOptionsOf(
  message: ConsumeMessage,
  extraHeaders: Record<string, unknown>,
): AmqpPublishOptions {
  const props = message.properties;
  return toAmqpOptions({
    messageId: typeof props.messageId === 'string' ? props.messageId : randomUUID(),
    headers: { ...(props.headers ?? {}), ...extraHeaders },
    ...(typeof props.contentType === 'string' ? { contentType: props.contentType } : {}),
    ...(typeof props.type === 'string' ? { type: props.type } : {}),
  });
}

type Parsed =
  | { readonly ok: true; readonly value: EventEnvelope }
  | { readonly ok: false; readonly reason: string };

/**
 * Reads and checks an envelope (pure). Refuses: bytes that are not JSON, an envelope without a
 * name, id or payload, an event name the catalogue does not know or the subscription did not ask
 * for, and a payload that fails its schema.
 */
export function parseEnvelope(content: Buffer, accepted: ReadonlySet<string>): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${describeError(error)}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'not an event envelope (expected a JSON object)' };
  }
  const envelope = raw as Record<string, unknown>;
  const name = envelope.name;
  if (typeof name !== 'string') return { ok: false, reason: 'envelope has no event name' };
  if (!isEventName(name)) return { ok: false, reason: `unknown event ${JSON.stringify(name)}` };
  if (!accepted.has(name)) {
    return { ok: false, reason: `event ${name} is not one this queue consumes` };
  }
  if (typeof envelope.id !== 'string' || envelope.id === '') {
    return { ok: false, reason: 'envelope has no id' };
  }
  const checked = checkEvent(name, envelope.payload);
  if (!checked.ok) return { ok: false, reason: `schema: ${checked.reason}` };
  return {
    ok: true,
    value: {
      name,
      id: envelope.id,
      time: typeof envelope.time === 'string' ? envelope.time : '',
      source: typeof envelope.source === 'string' ? envelope.source : '',
      payload: checked.value,
    },
  };
}
