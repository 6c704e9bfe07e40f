import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SwitchboardError, Type } from '@switchboard/runtime';
import type { AccountStore } from '@switchboard/sip-edge/accounts';
import { ControllerError, ControllerErrorCode } from './errors.js';

const Domain = Type.String({ minLength: 1, maxLength: 253, description: 'SIP domain (the realm)' });
const Username = Type.String({ minLength: 1, maxLength: 64, description: 'SIP user name' });
const AccountParams = Type.Object({ domain: Domain, username: Username });
const Summary = Type.Object({
  username: Type.String(),
  domain: Type.String(),
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

/** The account store's own checks (a username it refuses, a missing account) as API errors. */
async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof SwitchboardError && error.code === 'SWB_SIP_INVALID_ACCOUNT') {
      throw new ControllerError(ControllerErrorCode.InvalidRequest, error.message);
    }
    if (error instanceof SwitchboardError && error.code === 'SWB_SIP_ACCOUNT_NOT_FOUND') {
      throw new ControllerError(ControllerErrorCode.NotFound, error.message);
    }
    throw error;
  }
}

/**
 * The SIP edge's accounts, managed by operators: the table is the edge's (`sip_account`), the
 * store computes the MD5 and SHA-256 HA1s from the password and drops it, and every edge sees a
 * change at once (the store rewrites its kv cache entry). The password is in the request body
 * only: fastify logs no bodies, and the store logs no password.
 */
export function sipAccountRoutes(accounts: AccountStore): FastifyPluginAsyncTypebox {
  return (app) => {
    app.get(
      '/v1/sip/accounts',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'SIP accounts, by domain then username (no digests)',
          tags: ['sip'],
          querystring: Type.Object(
            { domain: Type.Optional(Domain) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ accounts: Type.Array(Summary) }) },
        },
      },
      async (request) => {
        const domain = request.query.domain;
        return {
          accounts: await mapped(() => accounts.list(domain === undefined ? {} : { domain })),
        };
      },
    );

    app.post(
      '/v1/sip/accounts',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Create a SIP account, or set a new password on an existing one',
          tags: ['sip'],
          body: Type.Object(
            {
              username: Username,
              domain: Domain,
              password: Type.String({ minLength: 8, maxLength: 256, writeOnly: true }),
              enabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ created: Type.Boolean() }),
            201: Type.Object({ created: Type.Boolean() }),
          },
        },
      },
      async (request, reply) => {
        const result = await mapped(() => accounts.add(request.body));
        return reply.code(result.created ? 201 : 200).send(result);
      },
    );

    for (const [action, enabled] of [
      ['enable', true],
      ['disable', false],
    ] as const) {
      app.post(
        `/v1/sip/accounts/:domain/:username/${action}`,
        {
          config: { access: 'admin' },
          schema: {
            summary: enabled
              ? 'Let the account register and call again'
              : 'Stop the account (403 to its requests)',
            tags: ['sip'],
            params: AccountParams,
            response: { 204: Type.Null() },
          },
        },
        async (request, reply) => {
          const { username, domain } = request.params;
          await mapped(() => accounts.setEnabled(username, domain, enabled));
          return reply.code(204).send(null);
        },
      );
    }

    app.delete(
      '/v1/sip/accounts/:domain/:username',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Delete a SIP account',
          tags: ['sip'],
          params: AccountParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const { username, domain } = request.params;
        if (!(await mapped(() => accounts.remove(username, domain)))) {
          throw new ControllerError(
            ControllerErrorCode.NotFound,
            `no SIP account ${JSON.stringify(`${username}@${domain}`)}`,
          );
        }
        return reply.code(204).send(null);
      },
    );
    return Promise.resolve();
  };
}
