import { describe, expect, it } from 'vitest';
import { SqlConfigError, resolveSqlRouterConfig } from '../src/index.js';

const primary = 'mysql://app:s3cret@db-1:3306/switchboard';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SqlConfigError) return error.field;
    throw error;
  }
  return undefined;
}

describe('SQL router configuration', () => {
  it('accepts the daemons’ sql.primary and sql.replicas URIs and fills in the defaults', () => {
    const config = resolveSqlRouterConfig({
      primary,
      replicas: ['mysql://app:s3cret@db-2/switchboard', 'mariadb://app@db-3:3307/switchboard'],
    });
    expect(config.topology.primary.options).toMatchObject({
      host: 'db-1',
      port: 3306,
      user: 'app',
      password: 's3cret',
      database: 'switchboard',
    });
    expect(config.topology.replicas.map((r) => r.name)).toEqual(['db-2:3306', 'db-3:3307']);
    expect(config.causalMode).toBe('session');
    expect(config.fallbackToPrimary).toBe(true);
    expect(config.rejoinLagMs).toBe(config.maxLagMs / 2);
    expect(config.pool.connectionLimit).toBe(10);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.topology.replicas)).toBe(true);
  });

  it('never puts a password in a label', () => {
    const config = resolveSqlRouterConfig({ primary });
    expect(config.topology.primary.label).toBe('mysql://app:***@db-1:3306/switchboard');
    expect(config.topology.primary.label).not.toContain('s3cret');
  });

  it('takes explicit mysql2 options per node, over the URI, with names and weights', () => {
    const config = resolveSqlRouterConfig({
      primary: { connection: { host: '10.0.0.1', user: 'root', password: '' } },
      replicas: [
        { uri: 'mysql://root@10.0.0.2/x', connection: { port: 3310 }, name: 'r1', weight: 3 },
      ],
      pool: { connectionLimit: 4 },
    });
    expect(config.topology.primary.name).toBe('10.0.0.1:3306');
    expect(config.topology.replicas[0]).toMatchObject({ name: 'r1', weight: 3 });
    expect(config.topology.replicas[0]?.options.port).toBe(3310);
    expect(config.pool.connectionLimit).toBe(4);
  });

  it('warns above four replicas', () => {
    const replicas = [1, 2, 3, 4, 5].map((i) => `mysql://root@db-${i + 1}/x`);
    expect(resolveSqlRouterConfig({ primary, replicas }).topology.warnings).toHaveLength(1);
    expect(
      resolveSqlRouterConfig({ primary, replicas: replicas.slice(0, 4) }).topology.warnings,
    ).toEqual([]);
  });

  it('names the bad field', () => {
    expect(fieldOf(() => resolveSqlRouterConfig({ primary: 'http://db' }))).toBe('primary.uri');
    expect(fieldOf(() => resolveSqlRouterConfig({ primary: 'not a uri' }))).toBe('primary.uri');
    expect(fieldOf(() => resolveSqlRouterConfig({ primary: {} }))).toBe('primary');
    expect(
      fieldOf(() => resolveSqlRouterConfig({ primary, replicas: [{ uri: primary, weight: 0 }] })),
    ).toBe('replicas[0].weight');
    expect(fieldOf(() => resolveSqlRouterConfig({ primary, replicas: [primary] }))).toBe(
      'replicas[0].name',
    );
    expect(
      fieldOf(() => resolveSqlRouterConfig({ primary, causal: { mode: 'eventual' as 'none' } })),
    ).toBe('causal.mode');
    expect(
      fieldOf(() => resolveSqlRouterConfig({ primary, lag: { maxLagMs: 100, rejoinLagMs: 200 } })),
    ).toBe('lag.rejoinLagMs');
    expect(fieldOf(() => resolveSqlRouterConfig({ primary, health: { rejoinAfter: 1.5 } }))).toBe(
      'health.rejoinAfter',
    );
    expect(fieldOf(() => resolveSqlRouterConfig({ primary: { uri: primary, weight: 2 } }))).toBe(
      'primary.weight',
    );
  });

  it('keeps the password out of the error message of a bad URI', () => {
    try {
      resolveSqlRouterConfig({ primary: 'mysql://app:s3cret@db:notaport/x' });
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain('s3cret');
    }
  });
});
