import type { ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  HeartbeatReplySchema,
  HeartbeatSchema,
  NodeIdSchema,
  NodeLoadSchema,
  NodeRegistrationSchema,
  NodeRoleSchema,
  NodeStatusSchema,
  NodeViewSchema,
  SwitchboardError,
  TopologySchema,
  Type,
  type Clock,
  type Heartbeat,
  type Logger,
  type NodeStatus,
  type NodeView,
  type Topology,
} from '@switchboard/runtime';
import { isKvError } from '@switchboard/storage';
import { fastify, LogController, type FastifyError } from 'fastify';
import type { AccountStore } from '@switchboard/sip-edge/accounts';
import { TokenCheck, type Access } from './auth.js';
import { dashboardHtml } from './dashboard.js';
import { ControllerError, ControllerErrorCode, notFound } from './errors.js';
import type { LeaderElection } from './leader.js';
import type { NodeCache } from './node-cache.js';
import { ProposalSchema } from './planner.js';
import type { Plans } from './plans.js';
import { sipAccountRoutes } from './sip-accounts.js';
import type { ControllerStore } from './store.js';
import { nodeView, type TopologyFeed } from './topology.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; every route names it. */
    access?: Access;
  }
}

export interface ControllerApiOptions {
  readonly nodeId: string;
  readonly adminToken: import('@switchboard/runtime').Secret;
  readonly joinToken: import('@switchboard/runtime').Secret;
  readonly rateLimitPerMinute: number;
  readonly bodyLimitBytes: number;
  readonly store: ControllerStore;
  readonly cache: NodeCache;
  readonly feed: TopologyFeed;
  readonly election: LeaderElection;
  readonly plans: Plans;
  /** The SIP edge's accounts; the `/v1/sip/accounts` routes exist when given. */
  readonly accounts?: AccountStore;
  readonly clock: Clock;
  readonly logger: Logger;
}

const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
});

const NodeDetailSchema = Type.Object({
  ...NodeViewSchema.properties,
  lastSeen: Type.Optional(Type.String({ description: 'When its last heartbeat arrived' })),
  load: Type.Optional(NodeLoadSchema),
});

const IdParams = Type.Object({ id: NodeIdSchema });
const PlanIdParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f-]{36}$', description: 'Plan id (a UUID)' }),
});
const Loose = Type.Object({}, { additionalProperties: true });

const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  429: ErrorSchema,
  503: ErrorSchema,
};

const reasonPhrases: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Turns any error into the API's body: stable codes for every client mistake, never a 500 for one. */
function errorBody(error: unknown): { statusCode: number; code: string; message: string } {
  if (error instanceof ControllerError) {
    return { statusCode: error.statusCode ?? 500, code: error.code, message: error.message };
  }
  const fastifyError = error as Partial<FastifyError> & { validationContext?: string };
  if (fastifyError.validation !== undefined) {
    return {
      statusCode: 400,
      code: ControllerErrorCode.InvalidRequest,
      message: fastifyError.message ?? 'invalid request',
    };
  }
  if (isKvError(error) || (error instanceof SwitchboardError && error.retryable)) {
    return {
      statusCode: 503,
      code: ControllerErrorCode.Unavailable,
      message: `the controller's store did not answer: ${(error as Error).message}`,
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors: malformed JSON, wrong content type, body too large.
    return {
      statusCode: status,
      code: status === 429 ? ControllerErrorCode.RateLimited : ControllerErrorCode.InvalidRequest,
      message: fastifyError.message ?? 'invalid request',
    };
  }
  return { statusCode: 500, code: 'SWB_CTL_INTERNAL', message: 'internal error (logged)' };
}

/**
 * The management API, not yet listening (tests drive it with `inject()`): nodes register and
 * heartbeat with the join token; operators list, drain and plan with the admin token; everyone
 * with a token reads the topology (long-poll or server-sent events). Every route has a TypeBox
 * schema, which also makes the OpenAPI document at `/openapi.json` and the UI at `/docs`.
 */
export async function buildControllerApi(options: ControllerApiOptions) {
  const { store, cache, feed, election, plans, clock, logger } = options;
  const tokens = new TokenCheck(options.adminToken, options.joinToken);
  const streams = new Set<ServerResponse>();

  const app = fastify({
    loggerInstance: logger.child({ component: 'api' }),
    // 1,000 heartbeats a second would drown every other line; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    // Additional properties are refused (400 naming them), not silently dropped.
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Switchboard controller',
        description:
          'Node registry, health, live topology and planner of a Switchboard platform. Nodes use the join token; operators the admin token.',
        version: '1',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    global: true,
    max: options.rateLimitPerMinute,
    timeWindow: 60_000,
    // A node's own routes are limited per node, so many nodes behind one address (or one test
    // process simulating thousands) are not throttled together; the rest per client address.
    keyGenerator: (request) => {
      const id = (request.params as { id?: unknown } | undefined)?.id;
      return request.routeOptions.config.access === 'node' && typeof id === 'string'
        ? `node:${id}`
        : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new ControllerError(
        ControllerErrorCode.RateLimited,
        `rate limit: at most ${context.max} requests per minute; retry in ${Math.ceil(context.ttl / 1000)} s`,
      ),
  });

  app.addHook('onRequest', (request, _reply, done) => {
    const access = request.routeOptions.config.access;
    // Routes without `access` are the plugins' (docs UI) and the 404 handler: public.
    try {
      if (access !== undefined) tokens.authorize(request.headers.authorization, access);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const body = errorBody(error);
    if (body.statusCode >= 500) {
      request.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
    }
    if (body.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
    const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
    if (body.statusCode === 429 && typeof retryAfter === 'number') {
      void reply.header('retry-after', String(Math.ceil(retryAfter / 1000)));
    }
    return reply
      .code(body.statusCode)
      .send({ ...body, error: reasonPhrases[body.statusCode] ?? 'Error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      statusCode: 404,
      code: ControllerErrorCode.NotFound,
      error: 'Not Found',
      message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
    }),
  );

  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end();
    done();
  });

  // ---- nodes -----------------------------------------------------------------------------------

  app.post(
    '/v1/nodes',
    {
      config: { access: 'node' },
      schema: {
        summary: 'Register a node (or update its registration); starts its lease',
        tags: ['nodes'],
        body: NodeRegistrationSchema,
        response: { 200: NodeViewSchema, ...errors },
      },
    },
    async (request) => {
      const record = await store.register(request.body, clock.now());
      cache.remember(record);
      return nodeView(record, { at: clock.now() });
    },
  );

  app.put(
    '/v1/nodes/:id/heartbeat',
    {
      // Not rate limited: it needs the join token and a registered id, and it is the hot path
      // (a per-node counter in memory would cost more than the lease write it protects).
      config: { access: 'node', rateLimit: false },
      schema: {
        summary:
          'Renew a node’s lease; answers with the newest topology version and the drain flag',
        tags: ['nodes'],
        params: IdParams,
        body: Type.Optional(HeartbeatSchema),
        response: { 200: HeartbeatReplySchema, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const known = await cache.lookup(id);
      if (known === undefined) throw notFound('node', id);
      // The body is optional: a bare PUT renews the lease too.
      const load = (request.body as Heartbeat | undefined)?.load;
      await store.heartbeat(id, clock.now(), load);
      return {
        topologyVersion: feed.version,
        drained: known.drained,
        leaseTtlMs: store.nodeLeaseTtlMs,
      };
    },
  );

  app.delete(
    '/v1/nodes/:id/lease',
    {
      config: { access: 'node' },
      schema: {
        summary: 'End a node’s lease now (a graceful leave): it shows down at once',
        tags: ['nodes'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await store.leave(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/nodes',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Every registered node with its status, last heartbeat and load',
        tags: ['nodes'],
        querystring: Type.Object(
          { role: Type.Optional(NodeRoleSchema), status: Type.Optional(NodeStatusSchema) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ nodes: Type.Array(NodeDetailSchema) }), ...errors },
      },
    },
    async (request) => {
      const snapshot = await store.snapshot();
      const role = request.query.role;
      const status: NodeStatus | undefined = request.query.status;
      const nodes = snapshot.nodes
        .map(({ node, lease }) => ({
          ...nodeView(node, lease),
          ...(lease === undefined
            ? {}
            : {
                lastSeen: new Date(lease.at).toISOString(),
                ...(lease.load === undefined ? {} : { load: lease.load }),
              }),
        }))
        .filter(
          (n) =>
            (role === undefined || n.roles.includes(role)) &&
            (status === undefined || n.status === status),
        );
      return { nodes };
    },
  );

  app.get(
    '/v1/nodes/:id',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'One node',
        tags: ['nodes'],
        params: IdParams,
        response: { 200: NodeDetailSchema, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const [node, lease] = await Promise.all([store.getNode(id), store.getLease(id)]);
      if (node === undefined) throw notFound('node', id);
      return {
        ...nodeView(node, lease),
        ...(lease === undefined ? {} : { lastSeen: new Date(lease.at).toISOString() }),
        ...(lease?.load === undefined ? {} : { load: lease.load }),
      };
    },
  );

  const setDrained = (drained: boolean) => async (request: { params: { id: string } }) => {
    const record = await store.setDrained(request.params.id, drained);
    cache.remember(record);
    return nodeView(record, await store.getLease(record.id));
  };

  app.post(
    '/v1/nodes/:id/drain',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Drain a node: it finishes what it has and takes no new work',
        tags: ['nodes'],
        params: IdParams,
        response: { 200: NodeViewSchema, ...errors },
      },
    },
    setDrained(true),
  );

  app.post(
    '/v1/nodes/:id/resume',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Bring a drained node back',
        tags: ['nodes'],
        params: IdParams,
        response: { 200: NodeViewSchema, ...errors },
      },
    },
    setDrained(false),
  );

  app.delete(
    '/v1/nodes/:id',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Forget a node (it registers again if it is still running)',
        tags: ['nodes'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await store.forget(id))) throw notFound('node', id);
      cache.forget(id);
      return reply.code(204).send(null);
    },
  );

  // ---- topology --------------------------------------------------------------------------------

  app.get(
    '/v1/topology',
    {
      config: { access: 'node' },
      schema: {
        summary: 'The topology; with `since`, waits (long-poll, up to waitMs) for a newer version',
        tags: ['topology'],
        querystring: Type.Object(
          {
            since: Type.Optional(
              Type.Integer({ minimum: 0, description: 'The version the caller has' }),
            ),
            waitMs: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: 30_000,
                description: 'How long to wait for a newer version; default 0',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: TopologySchema, 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { since, waitMs = 0 } = request.query;
      const abort = new AbortController();
      const onClose = (): void => {
        abort.abort();
      };
      reply.raw.once('close', onClose);
      try {
        const topology = await feed.waitNewer(since ?? -1, waitMs, abort.signal);
        if (topology === undefined) return await reply.code(204).send(null);
        return topology;
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );

  app.get(
    '/v1/topology/stream',
    {
      config: { access: 'node' },
      schema: {
        summary:
          'Server-sent events: `topology` with each new version (the current one first), and `status` with each leader round',
        tags: ['topology'],
        querystring: Type.Object(
          { since: Type.Optional(Type.Integer({ minimum: 0 })) },
          { additionalProperties: false },
        ),
      },
    },
    (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      streams.add(res);
      const send = (event: string, data: unknown, id?: number): void => {
        res.write(
          `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`,
        );
      };
      let sent = request.query.since ?? -1;
      const onChange = (topology: Topology): void => {
        if (topology.version <= sent) return;
        sent = topology.version;
        send('topology', topology, topology.version);
      };
      const current = feed.current;
      if (current !== undefined) onChange(current);
      feed.on('change', onChange);
      const unsubscribe = statusFeed.subscribe((status) => {
        send('status', status);
      });
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
      keepalive.unref();
      res.once('close', () => {
        clearInterval(keepalive);
        feed.off('change', onChange);
        unsubscribe();
        streams.delete(res);
      });
    },
  );

  // ---- status and leadership ----------------------------------------------------------------------

  const statusFeed = createStatusFeed(store, logger);
  app.addHook('onClose', (_instance, done) => {
    statusFeed.close();
    done();
  });

  app.get(
    '/v1/status',
    {
      config: { access: 'admin' },
      schema: {
        summary:
          'The leader’s last round: SQL replicas with lag and replication threads, Redis Cluster AGs with memory and keys, broker and search reachability, per-node last heartbeat and load',
        tags: ['status'],
        response: {
          200: Type.Object({
            controller: Type.Object({ nodeId: Type.String(), leader: Type.Boolean() }),
            leader: Type.Union([
              Type.Object({ nodeId: Type.String(), fence: Type.Integer(), url: Type.String() }),
              Type.Null(),
            ]),
            topologyVersion: Type.Integer(),
            status: Type.Union([Loose, Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async () => {
      const [leader, status] = await Promise.all([store.readLeader(), store.readStatus()]);
      return {
        controller: { nodeId: options.nodeId, leader: election.isLeader },
        leader:
          leader === undefined
            ? null
            : { nodeId: leader.nodeId, fence: leader.fence, url: leader.url },
        topologyVersion: feed.version,
        status: (status as Record<string, unknown> | undefined) ?? null,
      };
    },
  );

  // ---- plans -----------------------------------------------------------------------------------

  app.post(
    '/v1/plans',
    {
      config: { access: 'admin' },
      schema: {
        summary:
          'Review a proposed layout against the seed’s rules; with kv.target, also the exact slot moves and what they carry',
        tags: ['plans'],
        body: ProposalSchema,
        response: { 201: Loose, ...errors },
      },
    },
    async (request, reply) => reply.code(201).send(await plans.create(request.body)),
  );

  app.get(
    '/v1/plans',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Every plan, newest first',
        tags: ['plans'],
        response: { 200: Type.Object({ plans: Type.Array(Loose) }), ...errors },
      },
    },
    async () => ({ plans: await plans.list() }),
  );

  app.get(
    '/v1/plans/:id',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'One plan, with its progress while it applies',
        tags: ['plans'],
        params: PlanIdParams,
        response: { 200: Loose, ...errors },
      },
    },
    async (request) => plans.get(request.params.id),
  );

  app.post(
    '/v1/plans/:id/apply',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Apply a plan’s slot moves (the leader runs it; progress in GET /v1/plans/:id)',
        tags: ['plans'],
        params: PlanIdParams,
        response: { 202: Loose, ...errors },
      },
    },
    async (request, reply) => reply.code(202).send(await plans.requestApply(request.params.id)),
  );

  // ---- SIP accounts -----------------------------------------------------------------------------

  if (options.accounts !== undefined) await app.register(sipAccountRoutes(options.accounts));

  // ---- documents -------------------------------------------------------------------------------

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, () =>
    app.swagger(),
  );

  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_request, reply) =>
    reply.redirect('/dashboard'),
  );

  app.get(
    '/dashboard',
    { config: { access: 'public' }, schema: { hide: true } },
    (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(dashboardHtml),
  );

  return app;
}

/** The API as `buildControllerApi` returns it (fastify with the TypeBox type provider). */
export type ControllerApi = Awaited<ReturnType<typeof buildControllerApi>>;

/** Polls the leader's status from kv once a second, only while a stream listens. */
function createStatusFeed(store: ControllerStore, logger: Logger) {
  const listeners = new Set<(status: unknown) => void>();
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const poll = async (): Promise<void> => {
    try {
      const status = await store.readStatus();
      const text = JSON.stringify(status ?? null);
      if (text === last) return;
      last = text;
      for (const listener of listeners) listener(status ?? null);
    } catch (error) {
      logger.debug({ err: error }, 'status feed: kv did not answer');
    }
  };
  return {
    subscribe(listener: (status: unknown) => void): () => void {
      listeners.add(listener);
      if (timer === undefined) {
        last = '';
        timer = setInterval(() => void poll(), 1000);
        timer.unref();
      }
      store.readStatus().then(
        (status) => {
          if (listeners.has(listener)) listener(status ?? null);
        },
        (error: unknown) => {
          logger.debug({ err: error }, 'status feed: kv did not answer');
        },
      );
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    close(): void {
      listeners.clear();
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}

export type { NodeView };
