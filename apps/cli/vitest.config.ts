import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Each command test spawns `kvm-ts` through tsx: about a second apiece before the guest runs.
    testTimeout: 60_000,
  },
});
