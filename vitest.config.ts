import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // CLI end-to-end tests spawn processes and build sessions; 2-core CI machines are slow
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
