import { describe, expect, it } from 'vitest';
import { Secret, SwitchboardError, createLogger } from '../src/index.js';

function capture() {
  const lines: string[] = [];
  return {
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
    text: () => lines.join(''),
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('masks passwords, tokens and authorization headers under the usual keys', () => {
    const out = capture();
    const logger = createLogger({ destination: out.destination });
    logger.info(
      {
        password: 'p-top',
        db: { password: 'p-nested', secretAccessKey: 'k-nested' },
        token: 't-top',
        req: { headers: { authorization: 'Bearer abc', cookie: 'sid=1' } },
      },
      'connecting',
    );
    const text = out.text();
    for (const secret of ['p-top', 'p-nested', 'k-nested', 't-top', 'Bearer abc', 'sid=1']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('masks secret keys given to child() and, in logged objects, whatever their case', () => {
    const out = capture();
    const logger = createLogger({ destination: out.destination, secretKeys: ['pin'] });
    logger
      .child({ token: 'Digest xyz' })
      .info({ headers: { 'Set-Cookie': 'a=b' }, PIN: '1234', note: 'kept' }, 'request');
    const text = out.text();
    for (const secret of ['Digest xyz', 'a=b', '1234']) expect(text).not.toContain(secret);
    expect(out.records()[0]).toMatchObject({ note: 'kept', PIN: '[redacted]' });
  });

  it('leaves an object without secrets untouched, logging it as given', () => {
    const out = capture();
    const fields = { from: 'sip:alice@example.com', nested: { to: 'sip:bob@example.com' } };
    createLogger({ destination: out.destination }).info(fields, 'routed');
    expect(out.records()[0]).toMatchObject(fields);
  });

  it('prints Secret values as [redacted] wherever they are', () => {
    const out = capture();
    createLogger({ destination: out.destination }).info(
      { deeply: { nested: { value: new Secret('hunter2') } } },
      'config',
    );
    expect(out.text()).not.toContain('hunter2');
    expect(out.records()[0]).toMatchObject({ deeply: { nested: { value: '[redacted]' } } });
  });

  it('serializes errors under err with type, message, code and stack', () => {
    const out = capture();
    const error = new SwitchboardError('SWB_X', 'it broke', { cause: new Error('root cause') });
    createLogger({ destination: out.destination }).error({ err: error }, 'failed');
    const record = out.records()[0];
    expect(record?.err).toMatchObject({ type: 'SwitchboardError', code: 'SWB_X' });
    expect(JSON.stringify(record?.err)).toContain('root cause');
    expect(JSON.stringify(record?.err)).toContain('stack');
  });

  it('binds base fields to every line and context to child lines', () => {
    const out = capture();
    const logger = createLogger({
      destination: out.destination,
      name: 'worker',
      base: { role: 'worker', nodeId: 'worker-1' },
    });
    logger.child({ jobId: 'j-1' }).info('job done');
    expect(out.records()[0]).toMatchObject({
      name: 'worker',
      role: 'worker',
      nodeId: 'worker-1',
      jobId: 'j-1',
      msg: 'job done',
    });
  });

  it('drops lines below the configured level', () => {
    const out = capture();
    const logger = createLogger({ destination: out.destination, level: 'warn' });
    logger.info('quiet');
    logger.warn('loud');
    expect(out.records().map((r) => r.msg)).toEqual(['loud']);
  });
});
