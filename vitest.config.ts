import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite (replica kills, Redis stalls, slow Slack) runs apart: npm run test:faults.
    exclude: [...configDefaults.exclude, 'test/faults/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests run bot processes and redis-servers; two cores serve two files at once.
    maxWorkers: 2,
  },
});
