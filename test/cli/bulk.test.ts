import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { runCli, startCli } from './run-cli.js';

let server: TestServer;
let runner: BulkActionRunner;
let env: Record<string, string>;
beforeAll(async () => {
  server = await startTestServer();
  env = { TASKWIRE_URL: server.url };
  runner = createBulkActionRunner({ sql: server.sql, log: silentLogger, resultTtlMs: 60_000, batchSize: 100, pollIntervalMs: 60_000 });
});
afterAll(async () => {
  await runner.stop();
  await server?.close();
});
afterEach(async () => {
  await server.sql`DELETE FROM tasks`;
  await server.sql`DELETE FROM bulk_actions`;
});

const far = (): Date => new Date(Date.now() + 3_600_000);

describe('taskwire cancel|retry --filter', () => {
  it('cancel creates the bulk action and follows its progress to DONE (exit 0); --json prints each version', async () => {
    await insertBulkTasks(server.sql, { count: 450, status: 'PENDING', name: 'cli.bulk', runAfter: far() });
    await insertBulkTasks(server.sql, { count: 5, status: 'PENDING', name: 'cli.other', runAfter: far() });
    // The runner starts once the CLI is following: its progress lines come from live versions.
    const run = startCli(['cancel', '--filter', '{"status":"PENDING","name":"cli.bulk"}', '--json'], env);
    await run.waitForStderr(/450 matching tasks/);
    await runner.start();
    const result = await run.done;
    expect(result.code).toBe(0);
    const versions = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { status: string; processed: number; version: number });
    expect(versions.at(-1)).toMatchObject({ kind: 'CANCEL', status: 'DONE', matched: 450, processed: 450, changed: 450 });
    expect(versions.map((v) => v.version)).toEqual([...versions.map((v) => v.version)].sort((a, b) => a - b));
    const [left] = await server.sql`SELECT count(*)::int AS n FROM tasks WHERE name = 'cli.other' AND status = 'PENDING'`;
    expect(left?.n).toBe(5);
  });

  it('retry shows a progress line per version and ends at DONE', async () => {
    await runner.start();
    await insertBulkTasks(server.sql, { count: 120, status: 'FAILED', name: 'cli.failed', runAfter: far() });
    const result = await runCli(['retry', '--filter', '{"status":"FAILED","name":"cli.failed"}'], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^bulk action [0-9a-f-]{36}: 120 matching tasks$/m);
    expect(result.stderr).toMatch(/^DONE \[#{30}\] 120\/120 processed, 120 retried$/m);
  });

  it('refuses a malformed or unknown filter as a usage error (exit 2), an ID beside --filter too', { timeout: 120_000 }, async () => {
    // One after the other: each is a process start, and the machine may be busy.
    const cases = [
      ['cancel', '--filter', '{"status":'],
      ['retry', '--filter', '{"tenant":"other"}'],
      ['retry', '--filter', '{"status":"NOPE"}'],
      ['cancel', '0190a5f0-0000-7000-8000-000000000000', '--filter', '{}'],
    ];
    for (const args of cases) {
      const result = await runCli(args, env, 60_000);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
    }
    const [row] = await server.sql`SELECT count(*)::int AS n FROM bulk_actions`;
    expect(row?.n).toBe(0);
  });
});
