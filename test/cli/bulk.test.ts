import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { parseBulkFilter } from '../../src/cli/bulk-command.js';
import { UsageError } from '../../src/cli/args.js';
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
    // A cancel's count says what it is: a running task is asked to stop, and may still finish.
    await insertBulkTasks(server.sql, { count: 3, status: 'PENDING', name: 'cli.cancel-label', runAfter: far() });
    await insertBulkTasks(server.sql, { count: 2, status: 'SUCCEEDED', name: 'cli.cancel-label' });
    const cancelled = await runCli(['cancel', '--filter', '{"name":"cli.cancel-label"}'], env);
    expect(cancelled.stderr).toMatch(/^DONE \[#{30}\] 5\/5 processed, 3 cancelled or asked to stop, 2 left alone \(finished already\)$/m);
  });

  it('takes a workflow: `tasks --workflow ID` lists its steps, `cancel --filter {"workflowId": …}` cancels them alone', async () => {
    await runner.start();
    const step = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'demo.echo', args: [ref], runAfter: far() }, dependsOn });
    const workflow = await server.deps.queue.workflows.enqueue({ steps: [step('a'), step('b', ['a']), step('c', ['a'])] });
    const other = await server.deps.queue.workflows.enqueue({ steps: [step('x')] });
    const listed = await runCli(['tasks', '--workflow', workflow.id, '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((t) => t.id).sort()).toEqual(workflow.steps.map((s) => s.taskId).sort());
    // The option as typed is named, not the server's field (filter.workflowId); an empty one is refused too.
    const bad = await runCli(['tasks', '--workflow', 'nope'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--workflow: "nope" is not a workflow id/);
    const empty = await runCli(['feed', '--queue', '', '--timeout', '1'], env);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--queue is empty: give a value, or leave the option out/);
    const cancelled = await runCli(['cancel', '--filter', JSON.stringify({ workflowId: workflow.id })], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toMatch(/^bulk action [0-9a-f-]{36}: 3 matching tasks$/m);
    const statuses = await server.sql`SELECT workflow_id, status FROM tasks WHERE workflow_id IN (${workflow.id}, ${other.id})`;
    expect(statuses.filter((r) => r.workflowId === workflow.id).map((r) => r.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    expect(statuses.filter((r) => r.workflowId === other.id).map((r) => r.status)).toEqual(['PENDING']);
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

describe('parseBulkFilter', () => {
  it.each([
    ['enqueuedAfter', '2030-02-31T00:00:00Z'],
    ['enqueuedBefore', '2030-01-01T24:00:00Z'],
    ['enqueuedAfter', '2030-01-01'],
    ['enqueuedBefore', 'yesterday'],
    ['enqueuedAfter', 20300101],
  ])('refuses %s %j as --run-after refuses it: a UsageError naming the field', (key, value) => {
    const parse = (): unknown => parseBulkFilter('cancel', JSON.stringify({ status: 'PENDING', [key]: value }));
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(new RegExp(`^--filter\\.${key} must be an ISO-8601 time with a zone, of a day and time that exist, e\\.g\\. 2030-01-01T09:00:00Z, got `));
    try {
      parse();
    } catch (error) {
      expect((error as UsageError).field).toBe(`--filter.${key}`);
    }
  });

  it('takes dates the server takes, the written day checked (not the UTC one), and null as no bound', () => {
    const filter = { enqueuedAfter: '2030-03-01T00:30:00+01:00', enqueuedBefore: '2028-02-29T12:00:00Z' };
    expect(parseBulkFilter('retry', JSON.stringify(filter))).toEqual(filter);
    expect(parseBulkFilter('retry', '{"enqueuedAfter":null,"status":"FAILED"}')).toEqual({ enqueuedAfter: null, status: ['FAILED'] });
  });

  it('takes a status in any case, as `tasks --status` does', () => {
    expect(parseBulkFilter('retry', '{"status":"failed"}')).toEqual({ status: ['FAILED'] });
    expect(parseBulkFilter('cancel', '{"status":["Pending","RETRYING"]}')).toEqual({ status: ['PENDING', 'RETRYING'] });
  });

  it('refuses a filter that names nothing (every task) unless --all says so', () => {
    for (const text of ['{}', '{"status":[]}', '{"name":null,"enqueuedAfter":null}']) {
      expect(() => parseBulkFilter('cancel', text)).toThrow(/matches every task; add --all to cancel them all/);
      expect(parseBulkFilter('cancel', text, true)).toBeTypeOf('object');
    }
  });
});

describe('taskwire cancel|retry --filter with a bad date', () => {
  it('exits 2 before connecting, as --run-after does; with --json the error names the field', async () => {
    const [plain, json] = await Promise.all([
      runCli(['retry', '--filter', '{"status":"FAILED","enqueuedBefore":"2030-02-31T00:00:00Z"}'], env),
      runCli(['cancel', '--filter', '{"enqueuedAfter":"2030-04-31T09:00:00+02:00"}', '--json'], env),
    ]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^taskwire retry: --filter\.enqueuedBefore must be an ISO-8601 time with a zone, of a day and time that exist, .*got "2030-02-31T00:00:00Z"\nRun "taskwire retry --help" for usage\.\n$/);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'BAD_USAGE', field: '--filter.enqueuedAfter' } });
    const [row] = await server.sql`SELECT count(*)::int AS n FROM bulk_actions`;
    expect(row?.n).toBe(0);
  });
});
