import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'vmm', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
