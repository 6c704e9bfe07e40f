import { SwitchboardError, isRetryable } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import { KvError, KvErrorCode, classifyRedisError, isKvError } from '../src/kv/index.js';
import { toKvError } from '../src/kv/errors.js';

function named(name: string, message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: name });
  return error;
}

describe('kv errors', () => {
  it.each([
    ['CLUSTERDOWN The cluster is down', 'Unavailable'],
    ['TRYAGAIN Multiple keys request during rehashing of slot', 'Unavailable'],
    ['LOADING Redis is loading the dataset in memory', 'Unavailable'],
    ["READONLY You can't write against a read only replica.", 'Unavailable'],
    ['MASTERDOWN Link with MASTER is down', 'Unavailable'],
    ['Connection is closed.', 'Unavailable'],
    ['Too many Cluster redirections. Last error: Error: Connection is closed.', 'Unavailable'],
    ['Failed to refresh slots cache.', 'Unavailable'],
    ['Command timed out', 'Timeout'],
    ['WRONGTYPE Operation against a key holding the wrong kind of value', 'WrongType'],
    ['ERR value is not an integer or out of range', 'WrongType'],
    ["CROSSSLOT Keys in request don't hash to the same slot", 'CrossSlot'],
    ['OOM command not allowed when used memory > maxmemory', 'Backend'],
  ])('sorts %j into %s', (message, kind) => {
    expect(classifyRedisError(new Error(message))).toBe(kind);
  });

  it('sorts the client’s own failures and socket errors into Unavailable', () => {
    expect(
      classifyRedisError(
        named('MaxRetriesPerRequestError', 'Reached the max retries per request limit'),
      ),
    ).toBe('Unavailable');
    expect(classifyRedisError(named('ClusterAllFailedError', 'Failed to refresh'))).toBe(
      'Unavailable',
    );
    expect(classifyRedisError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(
      'Unavailable',
    );
    expect(classifyRedisError('a string')).toBe('Backend');
  });

  it('wraps with a stable code, the key, the cause and whether a retry can help', () => {
    const cause = new Error('CLUSTERDOWN The cluster is down');
    const error = toKvError(cause, 'swb:a', false);
    expect(error).toBeInstanceOf(SwitchboardError);
    expect(error).toMatchObject({
      code: KvErrorCode.Unavailable,
      kind: 'Unavailable',
      key: 'swb:a',
      retryable: true,
      statusCode: 503,
      cause,
    });
    expect(error.message).toBe('Redis unavailable on "swb:a": CLUSTERDOWN The cluster is down');
    expect(isRetryable(error)).toBe(true);
    expect(isKvError(error, 'Unavailable')).toBe(true);
    expect(isKvError(error, 'Timeout')).toBe(false);
    const wrong = toKvError(new Error('WRONGTYPE Operation'), 'swb:b', false);
    expect(wrong).toMatchObject({ code: 'SWB_KV_WRONG_TYPE', retryable: false });
    expect(toKvError(new Error('OOM'), undefined, false)).toMatchObject({
      code: 'SWB_KV_BACKEND',
      retryable: false,
      message: 'Redis error: OOM',
    });
  });

  it('says closed, not retryable, for anything failing after close()', () => {
    const error = toKvError(new Error('Connection is closed.'), 'k', true);
    expect(error).toMatchObject({ code: 'SWB_KV_CLOSED', retryable: false });
    const kept = new KvError('Conflict', 'x');
    expect(toKvError(kept, 'k', true)).toBe(kept);
  });
});
