import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources in tests, so a test
// never runs against a stale build of a sibling package.
const conditions = ['@switchboard/source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'packages/*/test/**/*.integration.test.ts',
            'bench/test/**/*.integration.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          globalSetup: ['packages/sandbox/test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
