// The seams between the SIP edge's parts, so the registrar, the call router and the drachtio
// adapter can be built and tested apart. Handlers see drachtio-srf's own request and response
// objects through these structural types (unit tests build real `SipRequest`/`SipResponse`
// objects from raw SIP text); only `srf.ts` imports drachtio-srf itself.

/** The part of a drachtio-srf request the handlers read. */
export interface SipRequestLike {
  readonly method: string;
  readonly uri: string;
  // No `callId`: drachtio-srf's typings declare one, but a request from the network has none;
  // read the Call-ID header (`callIdOf` in digest.ts).
  /** The transport source, as drachtio-server reports it. */
  readonly source_address: string;
  readonly source_port: number;
  readonly protocol: string;
  readonly body: string;
  get(name: string): string;
  has(name: string): boolean;
  getParsedHeader(name: string): unknown;
}

/** The part of a drachtio-srf response the handlers use. */
export interface SipResponseLike {
  readonly finalResponseSent: boolean;
  send(
    status: number,
    reason?: string,
    opts?: { headers?: Record<string, string>; body?: string },
  ): void;
}

/** A SIP account as the edge authenticates it (never a password: HA1 digests only). */
export interface SipAccount {
  readonly username: string;
  readonly domain: string;
  /** MD5(username:realm:password), hex. */
  readonly ha1Md5: string;
  /** SHA-256(username:realm:password), hex (RFC 8760). */
  readonly ha1Sha256: string;
  readonly enabled: boolean;
}

/** Who sent an authenticated request. */
export interface AuthenticatedUser {
  readonly username: string;
  readonly domain: string;
}

/**
 * Digest authentication of a request: resolves with the user when the request carries valid
 * credentials; otherwise it has already answered (a fresh challenge, 403 for a disabled account)
 * and resolves with undefined. Failures are counted for flood control. `mode` `www` (default,
 * REGISTER) challenges with 401 `WWW-Authenticate`; `proxy` (INVITE) with 407
 * `Proxy-Authenticate` and reads `Proxy-Authorization`.
 */
export interface Authenticator {
  authenticate(
    req: SipRequestLike,
    res: SipResponseLike,
    mode?: 'www' | 'proxy',
  ): Promise<AuthenticatedUser | undefined>;
}

/** Flood control's verdict on a request's source, checked before anything else. */
export type FloodVerdict = 'ok' | 'limited' | 'banned';

export interface FloodControl {
  check(source: string): Promise<FloodVerdict>;
  /** A failed authentication from `source`; enough of them ban it for a while. */
  failedAuth(source: string): Promise<void>;
}

/** A registered contact of an address of record. */
export interface Binding {
  readonly contact: string;
  readonly q: number;
  /** Epoch ms. */
  readonly expiresAt: number;
  readonly callId: string;
  readonly cseq: number;
  readonly source: string;
  readonly userAgent?: string;
}

/** Looks up where a local user is registered (the call router reads, the registrar writes). */
export interface BindingLookup {
  /** Live contacts of `aor` (`sip:user@domain`), highest q first. */
  contacts(aor: string): Promise<Binding[]>;
}

/** A PBX node the edge may route to, from the controller's topology. */
export interface PbxNode {
  readonly id: string;
  /** SIP URI host:port of the PBX. */
  readonly address: string;
}
