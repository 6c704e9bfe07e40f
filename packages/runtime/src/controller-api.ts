// The controller's wire contract: what a node sends when it registers and heartbeats, and the
// topology document every daemon applies. The controller validates its routes with these schemas
// and the controller client (in this package) speaks them, so both sides share one definition.
import Type, { type Static } from 'typebox';

/** Roles a node can register with. `pbx`, `sql`, `kv` and `search` nodes are registered by an operator or their own agent. */
export const nodeRoles = [
  'controller',
  'queue',
  'worker',
  'sip-edge',
  'pbx',
  'sql',
  'kv',
  'search',
  'blob',
] as const;
export type NodeRole = (typeof nodeRoles)[number];

// Spelt out rather than `nodeRoles.map(Type.Literal)`: a mapped array is not a tuple, so its
// static type would be `never` and no registration would type-check.
export const NodeRoleSchema = Type.Union(
  [
    Type.Literal('controller'),
    Type.Literal('queue'),
    Type.Literal('worker'),
    Type.Literal('sip-edge'),
    Type.Literal('pbx'),
    Type.Literal('sql'),
    Type.Literal('kv'),
    Type.Literal('search'),
    Type.Literal('blob'),
  ],
  { description: 'A role of the platform' },
);

/** Node ids appear in kv keys, URLs and logs: a conservative alphabet. */
export const NodeIdSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  description: 'Unique node id: letters, digits, `.`, `_`, `:` and `-`, at most 128 characters',
});

export const NodeCapacitySchema = Type.Object(
  {
    maxCalls: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Concurrent calls (PBX, SIP edge)' }),
    ),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Concurrent jobs (worker)' }),
    ),
    memoryMb: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Memory for data (kv, search)' }),
    ),
  },
  { additionalProperties: false },
);

export const NodeRegistrationSchema = Type.Object(
  {
    id: NodeIdSchema,
    roles: Type.Array(NodeRoleSchema, { minItems: 1, maxItems: 8, uniqueItems: true }),
    address: Type.String({
      minLength: 1,
      maxLength: 255,
      description:
        'Where the node serves: host:port of its ops endpoint, or its SIP address for a PBX',
    }),
    ag: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Availability Group of a Distributed Database node',
      }),
    ),
    capacity: Type.Optional(NodeCapacitySchema),
    version: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type NodeRegistration = Static<typeof NodeRegistrationSchema>;

/** What a node reports with each heartbeat; kept with its lease. */
export const NodeLoadSchema = Type.Object(
  {
    activeCalls: Type.Optional(Type.Integer({ minimum: 0 })),
    activeJobs: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type NodeLoad = Static<typeof NodeLoadSchema>;

export const HeartbeatSchema = Type.Object(
  { load: Type.Optional(NodeLoadSchema) },
  { additionalProperties: false },
);
export type Heartbeat = Static<typeof HeartbeatSchema>;

export const HeartbeatReplySchema = Type.Object({
  /** The newest topology version this controller knows: a node behind it fetches the document. */
  topologyVersion: Type.Integer({ minimum: 0 }),
  /** An operator drained the node: it finishes what it has and takes no new work. */
  drained: Type.Boolean(),
  leaseTtlMs: Type.Integer({ minimum: 1 }),
});
export type HeartbeatReply = Static<typeof HeartbeatReplySchema>;

export const NodeStatusSchema = Type.Union([
  Type.Literal('up'),
  Type.Literal('down'),
  Type.Literal('draining'),
]);
export type NodeStatus = Static<typeof NodeStatusSchema>;

/** A node as the topology and `GET /v1/nodes` show it. */
export const NodeViewSchema = Type.Object({
  ...NodeRegistrationSchema.properties,
  status: NodeStatusSchema,
  drained: Type.Boolean(),
  registeredAt: Type.String(),
});
export type NodeView = Static<typeof NodeViewSchema>;

export const SqlEndpointSchema = Type.Object({
  /** `host:port`, the name the routers know the server by. */
  address: Type.String(),
  healthy: Type.Boolean(),
  /** Why it is not healthy: unreachable, a replication thread stopped, lag above the limit. */
  reason: Type.Optional(Type.String()),
});
export type SqlEndpoint = Static<typeof SqlEndpointSchema>;

export const EndpointSchema = Type.Object({
  address: Type.String(),
  reachable: Type.Boolean(),
});
export type Endpoint = Static<typeof EndpointSchema>;

export const KvGroupSchema = Type.Object({
  id: Type.String(),
  primary: Type.String(),
  replicas: Type.Array(Type.String()),
  slots: Type.Integer({ minimum: 0 }),
});
export type KvGroup = Static<typeof KvGroupSchema>;

/**
 * The versioned topology. Only what changes routing is in it (health, membership, drain), so its
 * version moves when a router must act; volatile figures (lag, load, memory) are in the status.
 */
export const TopologySchema = Type.Object({
  version: Type.Integer({ minimum: 0 }),
  updatedAt: Type.String(),
  leader: Type.Union([
    Type.Object({ nodeId: Type.String(), fence: Type.Integer({ minimum: 1 }) }),
    Type.Null(),
  ]),
  nodes: Type.Array(NodeViewSchema),
  sql: Type.Object({
    primary: Type.Union([SqlEndpointSchema, Type.Null()]),
    replicas: Type.Array(SqlEndpointSchema),
  }),
  kv: Type.Object({
    state: Type.Union([Type.Literal('ok'), Type.Literal('fail'), Type.Literal('unknown')]),
    groups: Type.Array(KvGroupSchema),
  }),
  bus: Type.Object({ endpoints: Type.Array(EndpointSchema) }),
  search: Type.Object({ endpoints: Type.Array(EndpointSchema) }),
});
export type Topology = Static<typeof TopologySchema>;

/** The routes the controller client uses, relative to a controller's base URL. */
export const controllerRoutes = {
  register: '/v1/nodes',
  heartbeat: (id: string) => `/v1/nodes/${encodeURIComponent(id)}/heartbeat`,
  lease: (id: string) => `/v1/nodes/${encodeURIComponent(id)}/lease`,
  topology: '/v1/topology',
} as const;
