import { defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/helpers/slow-first-sequencer.js';

/**
 * Three tiers, one run. `npm test` runs all three (CI: one junit file counts every test);
 * `npm run test:unit` / `test:integration` / `test:reliability` run one (`--project NAME`).
 *
 * - unit: in process, in seconds. No PostgreSQL, no child process, no browser, no socket:
 *   pure modules and source checks. Its project has no global setup, so it starts no database
 *   (a file here that creates one fails at once: `inject('adminUrl')` is undefined).
 *   A new pure test file is listed here.
 * - integration: everything else under test/ — the real PostgreSQL (one per run, a database per
 *   file), servers on port 0, the CLI and worker processes, the dashboard in Chromium.
 * - reliability: test/reliability — killed processes, restarted databases, hostile input.
 *   The soak runs (`*.soak.test.ts`) stay out of every tier: `npm run soak`.
 */
const UNIT = [
  'test/architecture.test.ts',
  'test/docs.test.ts',
  'test/cli/output.test.ts',
  'test/queue/backoff.test.ts',
  'test/queue/task-filter.test.ts',
  'test/queue/uuid.test.ts',
  'test/queue/dates.test.ts',
  'test/error-codes.test.ts',
  'test/queue/json.test.ts',
  'test/operations/app-metrics.test.ts',
  'test/queue/micro-batcher.test.ts',
  'test/queue/rows-fault.test.ts',
  'test/worker/held-tasks.test.ts',
  'test/service.test.ts',
  'test/worker/claim-policy.test.ts',
  'test/db/server-event-log.test.ts',
  'test/queue/periodic-log.test.ts',
  'test/db/settled-or-refused.test.ts',
  'test/worker/claim-stop-refused.test.ts',
  'test/server/outage-log.test.ts',
  'test/worker/passed-over.test.ts',
  'test/worker/run-handler.test.ts',
  'test/dashboard/timeline.test.ts',
  'test/dashboard/clock.test.ts',
  'test/graphql/guard-rules.test.ts',
  'test/auth/scopes.test.ts',
  'test/auth/rate-limit.test.ts',
  'test/server/live/task-stream.test.ts',
  'test/server/client-address.test.ts',
  'test/db/migration-locks.test.ts',
  'test/config-limits.test.ts',
  'test/server/origins.test.ts',
  'test/auth/jwt-jwks-log.test.ts',
  'test/cli/doctor-jwks.test.ts',
  'test/cli/help.test.ts',
  'test/cli/startup-imports.test.ts',
  'test/db/doctor-explain.test.ts',
  'test/docs-guard-table.test.ts',
  'test/graphql/operation-cost.test.ts',
  'test/client/older-server-events.test.ts',
  'test/db/postgres-url.test.ts',
  'test/client/task-state.test.ts',
];
const RELIABILITY = ['test/reliability/**/*.test.ts'];
const SOAK = 'test/reliability/**/*.soak.test.ts';
/** One PostgreSQL per run: each database tier starts it once (see global-setup.ts). */
const DATABASE = ['./test/helpers/global-setup.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: files run two at a time; each gets its own database, so they don't interfere.
    maxWorkers: 2,
    // Longest files first across the three projects, so that the run does not end on one long file.
    sequence: { sequencer: SlowFirstSequencer },
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-artifacts/junit.xml' },
    // No global setup up here: vitest runs the root's for every project, unit included.
    projects: [
      // Not isolated: a worker process runs file after file and imports the sources once, not once
      // per file (that import, graphql, yoga and the schema, was about a third of the run's CPU).
      // Files still get their own database, server and runners; none mocks modules or patches globals.
      { extends: true, test: { name: 'unit', include: UNIT, isolate: false } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...RELIABILITY, 'node_modules/**'], globalSetup: DATABASE, isolate: false },
      },
      // Isolated: these files kill processes and restart PostgreSQL; each starts in a fresh worker.
      { extends: true, test: { name: 'reliability', include: RELIABILITY, exclude: [SOAK, 'node_modules/**'], globalSetup: DATABASE } },
    ],
  },
});
