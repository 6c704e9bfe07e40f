import { createHmac } from 'node:crypto';
import type { Secret } from '@switchboard/runtime';
import { BlobInvalidArgumentError } from './errors.js';
import { validateKey } from './keys.js';
import { sameChecksum } from './checksum.js';

/** Longest lifetime of a presigned URL, as S3's SigV4 (7 days). */
export const maxPresignSeconds = 7 * 24 * 3600;

/** A key as a URL path: each segment percent-encoded, the slashes kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function signature(
  secret: Secret,
  method: string,
  key: string,
  expires: number,
  contentType: string,
): string {
  return createHmac('sha256', secret.reveal())
    .update(`${method}\n${key}\n${expires}\n${contentType}`)
    .digest('hex');
}

export interface PosixSignOptions {
  readonly baseUrl: string;
  readonly secret: Secret;
  readonly key: string;
  readonly method: 'GET' | 'PUT';
  /** Epoch seconds. */
  readonly expires: number;
  readonly contentType?: string | undefined;
}

/** The URL a POSIX store's `presign` returns: `${baseUrl}/${key}?X-Swb-…`, HMAC-SHA256 signed. */
export function signPosixUrl(options: PosixSignOptions): string {
  const contentType = options.contentType ?? '';
  const query = new URLSearchParams({
    'X-Swb-Method': options.method,
    'X-Swb-Expires': String(options.expires),
    ...(contentType === '' ? {} : { 'X-Swb-Content-Type': contentType }),
    'X-Swb-Signature': signature(
      options.secret,
      options.method,
      options.key,
      options.expires,
      contentType,
    ),
  });
  return `${options.baseUrl}/${encodeKeyPath(options.key)}?${query.toString()}`;
}

export interface VerifyPresignedOptions {
  readonly secret: Secret;
  /** The request's URL (absolute, or path and query). */
  readonly url: string;
  /** The request's method. */
  readonly method: string;
  /** The path the store's `signing.baseUrl` maps to on this server, e.g. `/blobs`. */
  readonly basePath?: string;
  /** Epoch milliseconds; default `Date.now()`. */
  readonly now?: number;
}

/**
 * What a server (the controller) calls to serve a POSIX store's presigned URL: checks the
 * signature, the method and the expiry, and returns the key (validated) and, for PUT, the content
 * type the signer fixed. Throws `InvalidArgument` (HTTP 400; answer 403) otherwise.
 */
export function verifyPresignedUrl(options: VerifyPresignedOptions): {
  readonly key: string;
  readonly method: 'GET' | 'PUT';
  readonly contentType: string | undefined;
} {
  const url = new URL(options.url, 'http://localhost');
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (!url.pathname.startsWith(`${basePath}/`)) {
    throw new BlobInvalidArgumentError('presigned URL: path outside the signed base');
  }
  let key: string;
  try {
    key = url.pathname
      .slice(basePath.length + 1)
      .split('/')
      .map(decodeURIComponent)
      .join('/');
  } catch (err) {
    throw new BlobInvalidArgumentError('presigned URL: malformed path', { cause: err });
  }
  validateKey(key);
  const method = url.searchParams.get('X-Swb-Method');
  const expires = Number(url.searchParams.get('X-Swb-Expires'));
  const given = url.searchParams.get('X-Swb-Signature') ?? '';
  const contentType = url.searchParams.get('X-Swb-Content-Type') ?? '';
  if ((method !== 'GET' && method !== 'PUT') || method !== options.method.toUpperCase()) {
    throw new BlobInvalidArgumentError('presigned URL: wrong method');
  }
  if (!Number.isSafeInteger(expires) || expires * 1000 < (options.now ?? Date.now())) {
    throw new BlobInvalidArgumentError('presigned URL: expired');
  }
  if (!sameChecksum(given, signature(options.secret, method, key, expires, contentType))) {
    throw new BlobInvalidArgumentError('presigned URL: bad signature');
  }
  return { key, method, contentType: contentType === '' ? undefined : contentType };
}
