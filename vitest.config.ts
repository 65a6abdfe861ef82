import { defineConfig } from 'vitest/config';

// Two projects: `unit` (everything but the QEMU boot test) and `boot` (test/boot, slow: real
// machines under TCG). `npm test` runs both; `npm run test:boot` runs the boot test alone.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/boot/**', 'node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'boot',
          include: ['test/boot/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
