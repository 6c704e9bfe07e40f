import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources in tests, so a test
// never runs against a stale build of a sibling package.
const conditions = ['@switchboard/source', 'node', 'import', 'default'];

const sandboxSetup = ['packages/sandbox/test/global-setup.ts'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Against the sandbox's shared servers; files run in parallel, each isolated by its
        // own schema, queue, bucket or key prefix.
        extends: true,
        test: {
          name: 'integration',
          include: [
            'packages/*/test/**/*.integration.test.ts',
            'bench/test/**/*.integration.test.ts',
            'test/**/*.integration.test.ts',
          ],
          exclude: ['**/test/faults/**', '**/node_modules/**'],
          globalSetup: sandboxSetup,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Tests that stop, pause, delay or kill a shared server. They run after every other
        // test, one file at a time, so no test ever sees another's fault by accident.
        extends: true,
        test: {
          name: 'faults',
          include: [
            'packages/*/test/faults/**/*.integration.test.ts',
            'test/faults/**/*.integration.test.ts',
          ],
          globalSetup: sandboxSetup,
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
