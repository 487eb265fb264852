import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:package`: the tarball test, apart from `npm test` because it builds the package
 * (about a minute of tsc), installs it from the npm registry into a scratch project and drives
 * Chromium — minutes `npm test` should not pay on every run, and a network `npm test` should
 * not need. .ci/run runs it after `npm test` and counts it in its summary. Its files are
 * `*.package-test.ts`, which the root config's `*.test.ts` tiers do not pick up.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    name: 'package',
    include: ['test/package/**/*.package-test.ts'],
    globalSetup: ['./test/helpers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-artifacts/junit-package.xml' },
  },
});
