import { describe, expect, it } from 'vitest';
import { encodeCommand, parseInfo, parseReply } from '../src/resp.js';

describe('RESP probe client', () => {
  it('encodes a command as an array of bulk strings', () => {
    expect(encodeCommand(['CLUSTER', 'INFO'])).toBe('*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n');
    expect(encodeCommand(['SET', 'k', 'é'])).toContain('$2\r\né\r\n');
  });

  it('parses simple, error, integer and bulk replies, and waits for a whole bulk', () => {
    expect(parseReply(Buffer.from('+PONG\r\n'))).toEqual({ value: 'PONG' });
    expect(parseReply(Buffer.from('-ERR nope\r\n'))).toEqual({ error: 'ERR nope' });
    expect(parseReply(Buffer.from(':42\r\n'))).toEqual({ value: '42' });
    expect(parseReply(Buffer.from('$5\r\nhello\r\n'))).toEqual({ value: 'hello' });
    expect(parseReply(Buffer.from('$5\r\nhel'))).toBeUndefined();
    expect(parseReply(Buffer.from('+PON'))).toBeUndefined();
    expect(parseReply(Buffer.from('$-1\r\n'))).toEqual({ value: '' });
  });

  it('reads INFO fields', () => {
    const info = parseInfo('# Cluster\r\ncluster_state:ok\r\ncluster_known_nodes:6\r\n');
    expect(info.get('cluster_state')).toBe('ok');
    expect(info.get('cluster_known_nodes')).toBe('6');
  });
});
