import { createHash } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { uniqueName } from '../src/testing.js';

const info = inject('sandbox');

// Plain HTTP: s3rver accepts unsigned requests, and @aws-sdk/client-s3 is not a dependency yet.
function url(path: string): string {
  return `${info.s3.endpoint}/${path}`;
}

describe('S3 (s3rver) in the sandbox', () => {
  it('lists the bucket the daemons use by default', async () => {
    const response = await fetch(url(''));
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(`<Name>${info.s3.bucket}</Name>`);
  });

  it('creates a bucket, stores an object and reads the same bytes back', async () => {
    const bucket = uniqueName('b');
    const body = Buffer.from(`voicemail ${bucket}\n`.repeat(1000));
    expect((await fetch(url(bucket), { method: 'PUT' })).status).toBe(200);
    try {
      const put = await fetch(url(`${bucket}/vm/1.txt`), {
        method: 'PUT',
        body,
        headers: { 'content-type': 'text/plain' },
      });
      expect(put.status).toBe(200);
      expect(put.headers.get('etag')).toBe(`"${createHash('md5').update(body).digest('hex')}"`);

      const get = await fetch(url(`${bucket}/vm/1.txt`));
      expect(get.status).toBe(200);
      expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);

      expect((await fetch(url(`${bucket}/vm/1.txt`), { method: 'DELETE' })).status).toBe(204);
      expect((await fetch(url(`${bucket}/vm/1.txt`))).status).toBe(404);
    } finally {
      await fetch(url(`${bucket}/vm/1.txt`), { method: 'DELETE' });
      await fetch(url(bucket), { method: 'DELETE' });
    }
  });
});
