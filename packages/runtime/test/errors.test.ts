import { describe, expect, it } from 'vitest';
import {
  CloseTimeoutError,
  ConfigError,
  DependencyUnavailableError,
  SwitchboardError,
  isRetryable,
} from '../src/index.js';

describe('SwitchboardError', () => {
  it('carries a stable code, the retry verdict, an HTTP status and the cause', () => {
    const cause = new Error('socket hang up');
    const error = new DependencyUnavailableError('redis', 'redis did not answer', { cause });
    expect(error).toBeInstanceOf(SwitchboardError);
    expect(error.name).toBe('DependencyUnavailableError');
    expect(error.code).toBe('SWB_DEPENDENCY_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.statusCode).toBe(503);
    expect(error.cause).toBe(cause);
  });

  it('serializes to JSON without a stack and with URI passwords in causes masked', () => {
    const cause = Object.assign(new Error('cannot reach mysql://app:hunter2@db'), {
      code: 'ECONNREFUSED',
    });
    const json = JSON.stringify(new SwitchboardError('SWB_X', 'failed', { cause }));
    expect(JSON.parse(json)).toEqual({
      name: 'SwitchboardError',
      code: 'SWB_X',
      message: 'failed',
      retryable: false,
      cause: { name: 'Error', message: 'cannot reach mysql://app:***@db', code: 'ECONNREFUSED' },
    });
  });

  it('names each bad field of a ConfigError on its own line', () => {
    const error = new ConfigError([
      {
        path: 'ops.port',
        env: 'SWB_OPS_PORT',
        source: 'env',
        message: 'expected integer',
        received: '"x"',
      },
      { path: 'sql.primary', env: 'SWB_SQL_PRIMARY', source: 'missing', message: 'is required' },
    ]);
    expect(error.message).toBe(
      'invalid configuration:\n  - SWB_OPS_PORT: expected integer, got "x"\n  - SWB_SQL_PRIMARY is required',
    );
  });
});

describe('isRetryable', () => {
  it('trusts the flag of a Switchboard error', () => {
    expect(isRetryable(new DependencyUnavailableError('x', 'down'))).toBe(true);
    expect(isRetryable(new CloseTimeoutError(10))).toBe(false);
  });

  it('retries transient socket errors and nothing else unknown', () => {
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const denied = Object.assign(new Error('denied'), { code: 'EACCES' });
    expect(isRetryable(refused)).toBe(true);
    expect(isRetryable(denied)).toBe(false);
    expect(isRetryable(new Error('boom'))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
  });
});
