import { describe, expect, it } from 'vitest';
import { sandboxOptionsFromEnv } from '../src/env.js';
import {
  SandboxError,
  SandboxErrorCode,
  SandboxStartError,
  SandboxTimeoutError,
} from '../src/errors.js';
import { uniqueName } from '../src/testing.js';

describe('options from the environment', () => {
  it('reads the folder and the port base', () => {
    expect(
      sandboxOptionsFromEnv({ SWB_SANDBOX_DIR: '/tmp/sb', SWB_SANDBOX_PORT_BASE: '18000' }),
    ).toEqual({
      root: '/tmp/sb',
      portBase: 18000,
    });
  });

  it('leaves defaults in place for missing or empty variables', () => {
    expect(sandboxOptionsFromEnv({})).toEqual({});
    expect(sandboxOptionsFromEnv({ SWB_SANDBOX_DIR: '', SWB_SANDBOX_PORT_BASE: '' })).toEqual({});
  });

  it('names the variable when the port base is not a number', () => {
    expect(() => sandboxOptionsFromEnv({ SWB_SANDBOX_PORT_BASE: '17k' })).toThrow(
      /SWB_SANDBOX_PORT_BASE/,
    );
  });
});

describe('sandbox errors', () => {
  it('carry a stable code, a retryable flag, the server and the cause', () => {
    const cause = new Error('boom');
    const start = new SandboxStartError('mariadb-primary: exited', {
      server: 'mariadb-primary',
      logFile: '/x.log',
      cause,
    });
    expect(start).toBeInstanceOf(SandboxError);
    expect(start).toMatchObject({
      code: 'SWB_SANDBOX_START_FAILED',
      retryable: false,
      server: 'mariadb-primary',
      logFile: '/x.log',
      cause,
    });
    expect(new SandboxTimeoutError('slow')).toMatchObject({
      code: SandboxErrorCode.timeout,
      retryable: true,
    });
  });
});

describe('uniqueName', () => {
  it('makes names valid as a schema, a queue, a bucket and a key prefix', () => {
    const name = uniqueName('orders');
    expect(name).toMatch(/^orders[a-z0-9]+$/);
    expect(name.length).toBeLessThanOrEqual(32);
    expect(name.length).toBeGreaterThanOrEqual(3);
  });

  it('never repeats', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName('t')));
    expect(names.size).toBe(1000);
  });

  it('refuses a prefix that would make an invalid name', () => {
    for (const bad of ['', 'Upper', 'with-dash', 'with_underscore', '1digit', 'x'.repeat(17)]) {
      expect(() => uniqueName(bad)).toThrow(/prefix/);
    }
  });
});
