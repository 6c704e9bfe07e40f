import { uniqueName } from '@switchboard/sandbox/testing';
import { Queue } from 'bullmq';
import { describe, expect, inject, it } from 'vitest';
import { addATaskExample } from '../examples/add-a-task.js';

const info = inject('sandbox');

describe('the add-a-task example', () => {
  it('runs its own handler on the worker runtime', async () => {
    const queueName = uniqueName('q');
    const prefix = uniqueName('p');
    try {
      const tenants = await addATaskExample(info.redis.url, queueName, prefix);
      expect([...tenants]).toEqual([['a84b4c76e66710@pbx-1', 'acme']]);
    } finally {
      const queue = new Queue(queueName, { connection: { url: info.redis.url }, prefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
