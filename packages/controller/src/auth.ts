import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '@switchboard/runtime';
import { ControllerError, ControllerErrorCode } from './errors.js';

/** Who may call a route: operators only, nodes too, or anyone (the dashboard's page, the docs). */
export type Access = 'admin' | 'node' | 'public';

export type Principal = 'admin' | 'node';

/**
 * Compares bearer tokens in constant time. Both sides are hashed first, so the comparison does
 * not leak the token's length either; the tokens themselves stay in `Secret`s and never reach a
 * log or an error message.
 */
export class TokenCheck {
  private readonly admin: Buffer;
  private readonly join: Buffer;

  constructor(adminToken: Secret, joinToken: Secret) {
    this.admin = digest(adminToken.reveal());
    this.join = digest(joinToken.reveal());
  }

  /** Who the `Authorization` header names, or a 401/403 for the route's `access`. */
  authorize(header: string | undefined, access: Access): Principal | undefined {
    if (access === 'public') return undefined;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) {
      throw new ControllerError(
        ControllerErrorCode.Unauthorized,
        'missing bearer token: send Authorization: Bearer <token>',
      );
    }
    const given = digest(match[1]);
    if (timingSafeEqual(given, this.admin)) return 'admin';
    if (timingSafeEqual(given, this.join)) {
      if (access === 'admin') {
        throw new ControllerError(
          ControllerErrorCode.Forbidden,
          'the join token cannot do this: it is for nodes (register, heartbeat, topology); use the admin token',
        );
      }
      return 'node';
    }
    throw new ControllerError(ControllerErrorCode.Unauthorized, 'the bearer token is not valid');
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
