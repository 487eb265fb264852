import { defineConfig } from 'vitest/config';

/**
 * `npm run soak`: only the long reliability runs (`*.soak.test.ts`, which the default config
 * leaves out of `npm test`), with the same global setup (one PostgreSQL per run, or
 * DATABASE_URL). SOAK_TASKS scales the load (default 100,000 tasks).
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    globalSetup: ['./test/helpers/global-setup.ts'],
    include: ['test/reliability/**/*.soak.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
