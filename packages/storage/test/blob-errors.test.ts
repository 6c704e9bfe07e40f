import { S3ServiceException } from '@aws-sdk/client-s3';
import { isRetryable, Secret } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  BlobChecksumMismatchError,
  BlobNotFoundError,
  BlobUnavailableError,
  checksumAlgorithm,
  isBlobError,
  sha256Hex,
  verifyPresignedUrl,
} from '../src/index.js';
import { sameChecksum, verifyingStream } from '../src/blob/checksum.js';
import { mapS3Error } from '../src/blob/s3.js';
import { signPosixUrl } from '../src/blob/presign.js';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

describe('blob errors', () => {
  it('carry a stable code, the short kind, an HTTP status and retryable', () => {
    const notFound = new BlobNotFoundError('a/b');
    expect(notFound).toMatchObject({
      code: 'SWB_BLOB_NOT_FOUND',
      kind: 'NotFound',
      statusCode: 404,
      retryable: false,
      key: 'a/b',
    });
    const unavailable = new BlobUnavailableError('down');
    expect(unavailable).toMatchObject({
      code: 'SWB_BLOB_UNAVAILABLE',
      kind: 'BackendUnavailable',
      retryable: true,
    });
    expect(isRetryable(unavailable)).toBe(true);
    expect(isBlobError(notFound, 'NotFound')).toBe(true);
    expect(isBlobError(new Error('x'))).toBe(false);
  });

  it('maps S3 answers and socket errors to blob errors', () => {
    expect(mapS3Error(s3Error('NoSuchKey', 404), 'k').kind).toBe('NotFound');
    expect(mapS3Error(s3Error('NotFound', 404), 'k').kind).toBe('NotFound');
    expect(mapS3Error(s3Error('PreconditionFailed', 412), 'k').kind).toBe('PreconditionFailed');
    expect(mapS3Error(s3Error('InvalidRange', 416), 'k').kind).toBe('InvalidArgument');
    expect(mapS3Error(s3Error('SlowDown', 503), 'k')).toMatchObject({
      kind: 'BackendUnavailable',
      retryable: true,
    });
    expect(mapS3Error(s3Error('InternalError', 500), 'k').retryable).toBe(true);
    expect(mapS3Error(s3Error('AccessDenied', 403), 'k')).toMatchObject({
      kind: 'BackendError',
      retryable: false,
    });
    expect(mapS3Error(s3Error('NoSuchBucket', 404), 'k').kind).toBe('BackendError');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(mapS3Error(refused, 'k')).toMatchObject({ kind: 'BackendUnavailable', cause: refused });
    const notFound = new BlobNotFoundError('k');
    expect(mapS3Error(notFound, 'k')).toBe(notFound);
  });
});

describe('checksums', () => {
  it('are SHA-256, hex', () => {
    expect(checksumAlgorithm).toBe('sha256');
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(sameChecksum(sha256Hex('a'), sha256Hex('a'))).toBe(true);
    expect(sameChecksum(sha256Hex('a'), sha256Hex('b'))).toBe(false);
    expect(sameChecksum('', '')).toBe(false);
  });

  it('fail a read stream at its end when the bytes differ', async () => {
    const ok = Readable.from([Buffer.from('ab'), Buffer.from('c')]).pipe(
      verifyingStream('k', sha256Hex('abc')),
    );
    expect((await buffer(ok)).toString()).toBe('abc');
    const bad = Readable.from([Buffer.from('abd')]).pipe(verifyingStream('k', sha256Hex('abc')));
    await expect(buffer(bad)).rejects.toBeInstanceOf(BlobChecksumMismatchError);
  });
});

describe('POSIX presigned URLs', () => {
  const secret = new Secret('s3cret');
  const url = signPosixUrl({
    baseUrl: 'https://ctl.example/blobs',
    secret,
    key: 'vm/ä 1.wav',
    method: 'GET',
    expires: 2_000_000_000,
  });

  it('verify for the right method before they expire, and give the key back', () => {
    expect(url.startsWith('https://ctl.example/blobs/vm/%C3%A4%201.wav?')).toBe(true);
    expect(
      verifyPresignedUrl({ secret, url, method: 'GET', basePath: '/blobs', now: 1_000 }),
    ).toEqual({
      key: 'vm/ä 1.wav',
      method: 'GET',
      contentType: undefined,
    });
  });

  it('refuse a tampered, expired or wrong-method URL', () => {
    const verify =
      (u: string, method = 'GET', now = 1_000) =>
      () =>
        verifyPresignedUrl({ secret, url: u, method, basePath: '/blobs', now });
    expect(verify(url.replace('1.wav', '2.wav'))).toThrow(/bad signature/);
    expect(verify(url, 'PUT')).toThrow(/wrong method/);
    expect(verify(url, 'GET', 3_000_000_000_000)).toThrow(/expired/);
    expect(() =>
      verifyPresignedUrl({
        secret: new Secret('other'),
        url,
        method: 'GET',
        basePath: '/blobs',
        now: 1_000,
      }),
    ).toThrow(/bad signature/);
  });
});
