import { createReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { createBlobStore, isBlobError, type BlobStoreConfig } from '@switchboard/storage';

/**
 * Store a recording from a spool file, read it back verified, then list the caller's folder.
 * `config` is the daemons' `blob` configuration (`SWB_BLOB_DRIVER`, `SWB_BLOB_ROOT`,
 * `SWB_BLOB_S3_*`): the same code runs on a POSIX directory (NFS included) or an S3 bucket.
 */
export async function blobExample(config: BlobStoreConfig, spoolFile: string): Promise<string[]> {
  const store = createBlobStore(config);
  try {
    // Streams of unknown length are fine; the SHA-256 is computed on the way and stored.
    const { sha256, size } = await store.put('vm/alice/0001.wav', createReadStream(spoolFile), {
      contentType: 'audio/wav',
      metadata: { caller: '+15551234' },
      ifNoneMatch: '*', // never overwrite a recording
    });

    // verify: the stream fails with ChecksumMismatch if the stored bytes changed.
    const { body, info } = await store.get('vm/alice/0001.wav', { verify: true });
    await finished(body.resume()); // in a server: await pipeline(body, response)
    if (info.sha256 !== sha256 || info.size !== size) throw new Error('not what was stored');

    try {
      await store.put('vm/alice/0001.wav', 'again', { ifNoneMatch: '*' });
    } catch (err) {
      if (!isBlobError(err, 'PreconditionFailed')) throw err; // code SWB_BLOB_PRECONDITION_FAILED
    }

    const page = await store.list({ prefix: 'vm/alice/' }); // one level; `recursive: true` for all
    return page.objects.map((object) => `${object.key} ${object.size}`);
  } finally {
    await store.close();
  }
}
