import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault suite. Each file starts several bot processes and often Redis
 * servers of its own, kills, pauses or slows them, and waits out Slack's and BullMQ's timers, so the
 * files run one at a time with longer timeouts.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});
