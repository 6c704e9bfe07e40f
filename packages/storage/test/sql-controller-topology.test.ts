import { createLogger, type Topology } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  followControllerTopology,
  resolveSqlRouterConfig,
  sqlReplicaAddresses,
  sqlTopologyFromController,
  type SqlTopology,
} from '../src/index.js';

const primary = 'mysql://app:s3cret@db-1:3306/switchboard';
const configured: SqlTopology = {
  primary,
  replicas: [
    'mysql://app:s3cret@db-2:3306/switchboard',
    'mysql://app:s3cret@db-3:3306/switchboard',
  ],
};

function sql(
  replicas: readonly (readonly [string, boolean])[],
  primaryAddress: string | null = 'db-1:3306',
): Topology['sql'] {
  return {
    primary: primaryAddress === null ? null : { address: primaryAddress, healthy: true },
    replicas: replicas.map(([address, healthy]) => ({ address, healthy })),
  };
}

describe('sqlTopologyFromController', () => {
  it('keeps the configured topology when the controller has no SQL data', () => {
    expect(sqlTopologyFromController(configured, sql([], null))).toBe(configured);
  });

  it('keeps the configured replicas the controller reports healthy, as configured', () => {
    const result = sqlTopologyFromController(
      configured,
      sql([
        ['db-2:3306', true],
        ['db-3:3306', true],
      ]),
    );
    expect(result).toEqual(configured);
  });

  it('leaves out a replica the controller reports unhealthy or no longer lists', () => {
    expect(
      sqlTopologyFromController(
        configured,
        sql([
          ['db-2:3306', false],
          ['db-3:3306', true],
        ]),
      ),
    ).toEqual({
      primary,
      replicas: ['mysql://app:s3cret@db-3:3306/switchboard'],
    });
    expect(sqlTopologyFromController(configured, sql([['db-2:3306', true]]))).toEqual({
      primary,
      replicas: ['mysql://app:s3cret@db-2:3306/switchboard'],
    });
  });

  it('adds a healthy replica the configuration does not know, with the primary’s credentials and database', () => {
    const result = sqlTopologyFromController(
      configured,
      sql([
        ['db-2:3306', true],
        ['db-3:3306', true],
        ['db-4:3307', true],
        ['db-5:3306', false],
      ]),
    );
    expect(result.replicas).toHaveLength(3);
    const resolved = resolveSqlRouterConfig(result).topology;
    expect(resolved.replicas.map((r) => r.name)).toEqual(['db-2:3306', 'db-3:3306', 'db-4:3307']);
    expect(resolved.replicas[2]?.options).toMatchObject({
      host: 'db-4',
      port: 3307,
      user: 'app',
      password: 's3cret',
      database: 'switchboard',
    });
  });

  it('builds a new replica from a primary given as connection options', () => {
    const result = sqlTopologyFromController(
      {
        primary: {
          connection: { host: 'db-1', port: 3306, user: 'app', password: 'pw', database: 'sb' },
        },
      },
      sql([['[fd00::4]:3306', true]]),
    );
    const resolved = resolveSqlRouterConfig(result).topology;
    expect(resolved.replicas[0]?.options).toMatchObject({
      host: 'fd00::4',
      port: 3306,
      user: 'app',
      password: 'pw',
      database: 'sb',
    });
  });

  it('matches addresses whatever their form and never lists the primary as a replica', () => {
    const result = sqlTopologyFromController(
      {
        primary: 'mysql://app:pw@db-1/sb',
        replicas: [{ uri: 'mysql://app:pw@db-2/sb', name: 'replica-a', weight: 2 }],
      },
      sql([
        [' db-2:3306', true],
        ['db-1:3306', true],
      ]),
    );
    expect(result.replicas).toEqual([
      { uri: 'mysql://app:pw@db-2/sb', name: 'replica-a', weight: 2 },
    ]);
  });

  it('gives the same result for the same input, so an unchanged topology can be recognised', () => {
    const view = sql([
      ['db-2:3306', true],
      ['db-9:3306', true],
    ]);
    const a = sqlTopologyFromController(configured, view);
    const b = sqlTopologyFromController(configured, view);
    expect(a).toEqual(b);
    expect(sqlReplicaAddresses(a)).toEqual(['db-2:3306', 'db-9:3306']);
    expect(sqlReplicaAddresses(configured)).toEqual(['db-2:3306', 'db-3:3306']);
  });
});

describe('followControllerTopology', () => {
  it('sets the router’s topology only when the replica set moves, and says what moved', () => {
    const calls: SqlTopology[] = [];
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    const follower = followControllerTopology(
      { setTopology: (t) => calls.push(t) },
      configured,
      logger,
    );
    const both = sql([
      ['db-2:3306', true],
      ['db-3:3306', true],
    ]);
    expect(follower.apply({ version: 1, sql: both })).toBeUndefined();
    expect(calls).toHaveLength(0);
    const change = follower.apply({
      version: 2,
      sql: sql([
        ['db-2:3306', true],
        ['db-3:3306', false],
      ]),
    });
    expect(change).toEqual({ left: ['db-3:3306'], joined: [], replicas: ['db-2:3306'] });
    expect(calls).toHaveLength(1);
    expect(lines.join('')).toContain('SQL replicas changed by the controller');
    expect(lines.join('')).not.toContain('s3cret');
    expect(follower.apply({ version: 3, sql: both })?.joined).toEqual(['db-3:3306']);
    expect(calls).toHaveLength(2);
  });

  it('keeps the current replicas and logs when the router refuses the topology', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    const follower = followControllerTopology(
      {
        setTopology: () => {
          throw new Error('closed');
        },
      },
      configured,
      logger,
    );
    expect(follower.apply({ version: 4, sql: sql([['db-2:3306', true]]) })).toBeUndefined();
    expect(lines.join('')).toContain('cannot apply the SQL topology');
  });
});
