import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unreadyReasons } from '../src/daemons.js';
import { infoFromLayout, sandboxLayout } from '../src/layout.js';
import {
  DAEMONS,
  sandboxSecretsFile,
  daemonDefaults,
  daemonEntry,
  daemonEnvironment,
  daemonLogFile,
  daemonOpsPort,
  ensureSandboxSecrets,
  migrateEnvironment,
  type DaemonSpec,
} from '../src/platform.js';

const info = infoFromLayout(sandboxLayout('/repo/.sandbox', 17400));
const tokens = {
  adminToken: 'admin-token-for-tests',
  joinToken: 'join-token-for-tests',
  sipNonceSecret: 'sip-nonce-secret-for-tests',
};

function daemon(name: string): DaemonSpec {
  const spec = DAEMONS.find((d) => d.name === name);
  if (spec === undefined) throw new Error(`no daemon ${name}`);
  return spec;
}

describe('daemons under npm start', () => {
  it('run two controllers, queue, worker and sip-edge on their own ops ports', () => {
    expect(DAEMONS.map((d) => [d.name, daemonOpsPort(info, d)])).toEqual([
      ['controller-1', 17450],
      ['controller-2', 17451],
      ['queue', 17452],
      ['worker', 17453],
      ['sip-edge', 17454],
    ]);
    expect(new Set(DAEMONS.map((d) => d.nodeId)).size).toBe(DAEMONS.length);
  });

  it('start from each package build and log to the sandbox logs folder', () => {
    expect(daemonEntry('/repo', daemon('sip-edge'))).toBe('/repo/packages/sip-edge/dist/main.js');
    expect(daemonLogFile(info, daemon('worker'))).toBe('/repo/.sandbox/logs/worker.log');
  });
});

describe('daemon environment', () => {
  it('points a daemon at every sandbox server', () => {
    expect(daemonDefaults(info, daemon('controller-1'), tokens)).toEqual({
      SWB_NODE_ID: 'controller-1',
      SWB_LOG_LEVEL: 'info',
      SWB_OPS_HOST: '127.0.0.1',
      SWB_OPS_PORT: '17450',
      SWB_SQL_PRIMARY: 'mysql://root@127.0.0.1:17400/switchboard',
      SWB_SQL_REPLICAS:
        'mysql://root@127.0.0.1:17401/switchboard,mysql://root@127.0.0.1:17402/switchboard',
      SWB_REDIS_URL: 'redis://127.0.0.1:17410',
      SWB_KV_NODES:
        '127.0.0.1:17420,127.0.0.1:17421,127.0.0.1:17422,127.0.0.1:17423,127.0.0.1:17424,127.0.0.1:17425',
      SWB_AMQP_URLS: 'amqp://guest:guest@127.0.0.1:17430',
      SWB_BLOB_DRIVER: 'posix',
      SWB_BLOB_ROOT: '/repo/.sandbox/blobs',
      SWB_BLOB_S3_ENDPOINT: 'http://127.0.0.1:17440',
      SWB_BLOB_S3_REGION: 'us-east-1',
      SWB_BLOB_S3_BUCKET: 'switchboard',
      SWB_BLOB_S3_ACCESS_KEY_ID: 'S3RVER',
      SWB_BLOB_S3_SECRET_ACCESS_KEY: 'S3RVER',
      SWB_API_HOST: '127.0.0.1',
      SWB_API_PORT: '17455',
      SWB_API_ADMIN_TOKEN: 'admin-token-for-tests',
      SWB_API_JOIN_TOKEN: 'join-token-for-tests',
    });
  });

  it('points every other daemon at both controllers with the join token only', () => {
    const env = daemonDefaults(info, daemon('worker'), tokens);
    expect(env.SWB_CONTROLLER_URLS).toBe('http://127.0.0.1:17455,http://127.0.0.1:17456');
    expect(env.SWB_CONTROLLER_JOIN_TOKEN).toBe('join-token-for-tests');
    expect(Object.values(env)).not.toContain('admin-token-for-tests');
    expect(daemonDefaults(info, daemon('controller-2'), tokens).SWB_API_PORT).toBe('17456');
    expect(daemonDefaults(info, daemon('sip-edge'), tokens).SWB_AUTH_NONCE_SECRET).toBe(
      'sip-nonce-secret-for-tests',
    );
    expect(env.SWB_AUTH_NONCE_SECRET).toBeUndefined();
  });

  it('gives each daemon its own node id and ops port', () => {
    const env = daemonDefaults(info, daemon('worker'), tokens);
    expect(env.SWB_NODE_ID).toBe('worker-1');
    expect(env.SWB_OPS_PORT).toBe('17453');
  });

  it('lets the user environment win, so the daemons can run against external servers', () => {
    const env = daemonEnvironment(
      info,
      daemon('queue'),
      {
        SWB_AMQP_URLS: 'amqp://broker.example:5672',
        SWB_LOG_LEVEL: 'debug',
        PATH: '/usr/bin',
        UNSET: undefined,
      },
      tokens,
    );
    expect(env.SWB_AMQP_URLS).toBe('amqp://broker.example:5672');
    expect(env.SWB_LOG_LEVEL).toBe('debug');
    expect(env.SWB_REDIS_URL).toBe('redis://127.0.0.1:17410');
    expect(env.PATH).toBe('/usr/bin');
    expect('UNSET' in env).toBe(false);
  });
});

describe('unreadyReasons', () => {
  it('names each failing dependency with its error from a /readyz body', () => {
    const body = JSON.stringify({
      status: 'unready',
      dependencies: [
        { name: 'drachtio', ok: false, error: 'no drachtio-server: SWB_DRACHTIO_HOST is not set' },
        { name: 'sql.primary', ok: true },
        { name: 'kv', ok: false },
      ],
    });
    expect(unreadyReasons(body)).toBe(
      'drachtio: no drachtio-server: SWB_DRACHTIO_HOST is not set; kv: not ok',
    );
  });

  it('gives nothing for a body that is not a readiness report', () => {
    expect(unreadyReasons('<html>busy</html>')).toBeUndefined();
    expect(unreadyReasons(JSON.stringify({ status: 'closing' }))).toBeUndefined();
  });
});

describe('migrateEnvironment', () => {
  it('points the migrations at the platform database, under the user environment', () => {
    const env = migrateEnvironment(info, { SWB_SQL_PRIMARY: 'mysql://app@db.example:3306/voip' });
    expect(env.SWB_SQL_PRIMARY).toBe('mysql://app@db.example:3306/voip');
    expect(migrateEnvironment(info, {}).SWB_SQL_PRIMARY).toBe(
      'mysql://root@127.0.0.1:17400/switchboard',
    );
  });
});

describe('controller tokens', () => {
  it('are made once, kept readable by the owner only, and read back the same', () => {
    const root = mkdtempSync(join(tmpdir(), 'swb-tokens-'));
    try {
      const first = ensureSandboxSecrets({ root });
      expect(first.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.joinToken).not.toBe(first.adminToken);
      expect(first.sipNonceSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(sandboxSecretsFile({ root })).mode & 0o777).toBe(0o600);
      expect(ensureSandboxSecrets({ root })).toEqual(first);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
