import { defineProject } from 'vitest/config';

export default defineProject({
  // Each test spawns an example with tsx; the emulator runs the long-mode and timer guests in JavaScript.
  test: { name: 'examples', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
