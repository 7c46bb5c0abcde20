import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'native',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Every test file in its own process: a guest that wedges KVM_RUN takes down one fork, not the runner.
    pool: 'forks',
    // Kicks, then kills, a test stuck in KVM_RUN (see the file): synchronous code outlives testTimeout.
    setupFiles: ['test/support/watchdog-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
