import { describe, expect, it } from 'vitest';
import {
  formatHostPort,
  parseHostPort,
  redactCredentials,
  redactUri,
  uriHostPort,
} from '../src/index.js';

describe('parseHostPort', () => {
  it('reads host:port and bracketed IPv6', () => {
    expect(parseHostPort('10.0.0.1:7000')).toEqual({ host: '10.0.0.1', port: 7000 });
    expect(parseHostPort('redis-a.local:6380')).toEqual({ host: 'redis-a.local', port: 6380 });
    expect(parseHostPort('[::1]:7001')).toEqual({ host: '::1', port: 7001 });
  });

  it.each(['host', 'host:0', 'host:70000', ':7000', 'a b:1'])('rejects %s', (input) => {
    expect(() => parseHostPort(input)).toThrow(TypeError);
  });
});

describe('uriHostPort', () => {
  it.each([
    ['mysql://root:pw@db-1:3307/app', 'db-1', 3307],
    ['mysql://db-1/app', 'db-1', 3306],
    ['redis://:pw@127.0.0.1', '127.0.0.1', 6379],
    ['amqp://guest:guest@mq', 'mq', 5672],
    ['amqps://mq', 'mq', 5671],
    ['https://s3.example.com', 's3.example.com', 443],
    ['mysql://[::1]:3306', '::1', 3306],
  ])('finds the address in %s', (uri, host, port) => {
    expect(uriHostPort(uri)).toEqual({ host, port });
  });

  it('refuses an unknown scheme without a port, without quoting the password', () => {
    expect(() => uriHostPort('foo://user:hunter2@host')).toThrow('foo://user:***@host');
  });
});

describe('redaction', () => {
  it('masks the password of a URI and keeps the user for diagnosis', () => {
    expect(redactUri('mysql://app:s3cr3t@db:3306/x')).toBe('mysql://app:***@db:3306/x');
    expect(redactUri('redis://:s3cr3t@cache:6379')).toBe('redis://:***@cache:6379');
    expect(redactUri('amqp://mq:5672')).toBe('amqp://mq:5672');
  });

  it('masks every URI password inside a longer text', () => {
    const text = 'connect mysql://a:p1@h1 failed, then amqp://b:p2@h2 too';
    expect(redactCredentials(text)).toBe(
      'connect mysql://a:***@h1 failed, then amqp://b:***@h2 too',
    );
  });

  it('formats IPv6 addresses with brackets', () => {
    expect(formatHostPort({ host: '::1', port: 1 })).toBe('[::1]:1');
    expect(formatHostPort({ host: 'a', port: 1 })).toBe('a:1');
  });
});
