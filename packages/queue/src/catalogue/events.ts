import { NodeRoleSchema, Type, type Static, type TSchema } from '@switchboard/runtime';

/**
 * The platform's events: what one role tells the others over the bus. Each has a name (also its
 * routing key on the `switchboard.events` topic exchange), a version, and a TypeBox schema that
 * the bus checks on publish and again on consume. Adding an event: add its schema here, add it to
 * `eventSchemas`, and say in the README who publishes it and who listens.
 */

const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });
const NonEmpty = Type.String({ minLength: 1, maxLength: 512 });
const NodeId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' });

export const CallDispositionSchema = Type.Union([
  Type.Literal('answered'),
  Type.Literal('busy'),
  Type.Literal('no-answer'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);

export const CallDirectionSchema = Type.Union([
  Type.Literal('inbound'),
  Type.Literal('outbound'),
  Type.Literal('internal'),
]);

/**
 * A call detail record. Field names match the search module's `CdrDocument`, so the worker
 * indexes it as it is; the worker's `cdr` SQL table names the same fields in snake_case
 * (`from_uri`, `start_time`…: `from` and `to` are reserved words), mapped in one place.
 */
export const CdrSchema = Type.Object(
  {
    callId: Type.String({ minLength: 1, maxLength: 255 }),
    from: NonEmpty,
    to: NonEmpty,
    direction: CallDirectionSchema,
    disposition: CallDispositionSchema,
    /** INVITE received. */
    start: Timestamp,
    /** 200 OK sent; absent for calls never answered. */
    answer: Type.Optional(Timestamp),
    /** BYE, CANCEL or the final failure. */
    end: Timestamp,
    durationSeconds: Type.Number({ minimum: 0 }),
    billableSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    pbxNode: Type.Optional(NodeId),
    edge: Type.Optional(NodeId),
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    sipStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 699 })),
    hangupCause: Type.Optional(Type.String({ maxLength: 255 })),
    sourceIp: Type.Optional(Type.String({ maxLength: 64 })),
    userAgent: Type.Optional(Type.String({ maxLength: 512 })),
    recordingKey: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type Cdr = Static<typeof CdrSchema>;

export const eventSchemas = {
  /** sip-edge: an INVITE was accepted and routed. */
  'call.started': Type.Object(
    {
      callId: Type.String({ minLength: 1, maxLength: 255 }),
      from: NonEmpty,
      to: NonEmpty,
      direction: CallDirectionSchema,
      start: Timestamp,
      pbxNode: Type.Optional(NodeId),
      edge: Type.Optional(NodeId),
      tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    },
    { additionalProperties: false },
  ),
  /** sip-edge: a call ended; carries the CDR. The bridge turns it into a `cdr.index` job. */
  'call.ended': Type.Object({ cdr: CdrSchema }, { additionalProperties: false }),
  /** A PBX node: a recording (or voicemail, fax) waits in a spool directory to be ingested. */
  'recording.ready': Type.Object(
    {
      /** Path relative to the worker's spool directory (no `..`, not absolute). */
      spoolPath: Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: '^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$',
      }),
      /** Where it goes in blob storage. */
      blobKey: Type.String({ minLength: 1, maxLength: 1024 }),
      kind: Type.Union([Type.Literal('recording'), Type.Literal('voicemail'), Type.Literal('fax')]),
      callId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      contentType: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      /** SHA-256 (hex) of the file as the producer wrote it, verified on ingest when present. */
      sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
      /** Days to keep it; the retention task purges it after. */
      retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
    },
    { additionalProperties: false },
  ),
  /** controller: a node registered or came back. */
  'node.up': Type.Object(
    {
      nodeId: NodeId,
      roles: Type.Array(NodeRoleSchema, { minItems: 1 }),
      address: Type.String({ minLength: 1, maxLength: 255 }),
      availabilityGroup: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
      version: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  ),
  /** controller: a node's lease expired, or it was drained and left. */
  'node.down': Type.Object(
    {
      nodeId: NodeId,
      reason: Type.Union([
        Type.Literal('lease-expired'),
        Type.Literal('drained'),
        Type.Literal('deregistered'),
      ]),
    },
    { additionalProperties: false },
  ),
  /** controller: a new topology version; `topology` is the document the controller serves. */
  'topology.changed': Type.Object(
    {
      version: Type.Integer({ minimum: 1 }),
      topology: Type.Record(Type.String(), Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  /** queue bridge: a job finished. */
  'job.completed': Type.Object(
    {
      queue: NonEmpty,
      jobId: NonEmpty,
      task: NonEmpty,
      attempts: Type.Integer({ minimum: 1 }),
      durationMs: Type.Optional(Type.Number({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
  /** queue bridge: a job failed for good (retries exhausted or bad input). */
  'job.failed': Type.Object(
    {
      queue: NonEmpty,
      jobId: NonEmpty,
      task: NonEmpty,
      attempts: Type.Integer({ minimum: 0 }),
      reason: Type.String({ maxLength: 4096 }),
    },
    { additionalProperties: false },
  ),
} satisfies Record<string, TSchema>;

export type EventName = keyof typeof eventSchemas;
export type EventPayload<N extends EventName> = Static<(typeof eventSchemas)[N]>;
export const eventNames = Object.freeze(Object.keys(eventSchemas)) as readonly EventName[];

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(eventSchemas, name);
}

/** Every message on the bus: an envelope around one event's payload. */
export interface EventEnvelope<N extends EventName = EventName> {
  readonly name: N;
  /** Unique per message (the AMQP message id); consumers deduplicate on it. */
  readonly id: string;
  /** When it was published, ISO 8601. */
  readonly time: string;
  /** Who published it (role and node id), for tracing. */
  readonly source: string;
  readonly payload: EventPayload<N>;
}
