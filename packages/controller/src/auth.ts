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
  /**
   * Headers already found valid, so a node's heartbeat does not hash the same token twice a
   * second. Only headers that matched a token go in (at most one entry per token in practice);
   * a wrong token is hashed and compared every time.
   */
  private readonly known = new Map<string, Principal>();

  constructor(adminToken: Secret, joinToken: Secret) {
    this.admin = digest(adminToken.reveal());
    this.join = digest(joinToken.reveal());
  }

  /** Who the `Authorization` header names, or a 401/403 for the route's `access`. */
  authorize(header: string | undefined, access: Access): Principal | undefined {
    if (access === 'public') return undefined;
    const cached = header === undefined ? undefined : this.known.get(header);
    if (cached !== undefined) return this.allow(cached, access);
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) {
      throw new ControllerError(
        ControllerErrorCode.Unauthorized,
        'missing bearer token: send Authorization: Bearer <token>',
      );
    }
    const given = digest(match[1]);
    const principal: Principal | undefined = timingSafeEqual(given, this.admin)
      ? 'admin'
      : timingSafeEqual(given, this.join)
        ? 'node'
        : undefined;
    if (principal === undefined) {
      throw new ControllerError(ControllerErrorCode.Unauthorized, 'the bearer token is not valid');
    }
    // Bounded: the same few headers repeat; anything else is a client varying its whitespace.
    if (this.known.size < 64 && header !== undefined) this.known.set(header, principal);
    return this.allow(principal, access);
  }

  private allow(principal: Principal, access: Access): Principal {
    if (principal === 'node' && access === 'admin') {
      throw new ControllerError(
        ControllerErrorCode.Forbidden,
        'the join token cannot do this: it is for nodes (register, heartbeat, topology); use the admin token',
      );
    }
    return principal;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
