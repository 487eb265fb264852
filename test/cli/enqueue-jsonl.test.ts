import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { runCli, startCli, type CliRun } from './run-cli.js';

// `taskwire enqueue --from-jsonl`: one task a line, sent in batches through enqueueTasks.
let server: TestServer;
let env: Record<string, string>;
let dir: string;
beforeAll(async () => {
  server = await startTestServer();
  env = { TASKWIRE_URL: server.url };
  dir = mkdtempSync(join(tmpdir(), 'taskwire-jsonl-'));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await server.sql`DELETE FROM tasks`;
});

const lines = (...objects: unknown[]): string => objects.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n') + '\n';

async function storedArgs(): Promise<unknown[]> {
  const rows = await server.sql<{ args: unknown[] }[]>`SELECT args FROM tasks ORDER BY id`;
  return rows.map((r) => r.args[0]);
}

describe('taskwire enqueue --from-jsonl', () => {
  it('stores every line in batches, printing the ids in line order; blank lines are skipped; stdin with -', async () => {
    const file = join(dir, 'tasks.jsonl');
    const objects = Array.from({ length: 25 }, (_, i) => ({ name: 'demo.echo', args: [i], ...(i === 3 ? { queue: 'jsonl-q', priority: 4 } : {}) }));
    writeFileSync(file, lines(...objects.slice(0, 10), '', '   ', ...objects.slice(10)));
    const result = await runCli(['enqueue', '--from-jsonl', file, '--batch', '10'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const ids = result.stdout.trim().split('\n');
    expect(ids).toHaveLength(25);
    const rows = await server.sql<{ id: string; args: unknown[]; queue: string; priority: number }[]>`SELECT id, args, queue, priority FROM tasks WHERE id = ANY(${ids}::uuid[])`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(ids.map((id) => byId.get(id)?.args[0])).toEqual(objects.map((_, i) => i));
    expect(byId.get(ids[3]!)).toMatchObject({ queue: 'jsonl-q', priority: 4 });

    const piped = await runCli(['enqueue', '--from-jsonl', '-', '--json'], env, 30_000, { input: lines({ name: 'math.copysign', args: [1, -1] }) });
    expect(piped.code).toBe(0);
    // A batch's answer is each task without its payloads (client.enqueueMany's EnqueuedTask).
    expect(JSON.parse(piped.stdout)).toMatchObject({ name: 'math.copysign', status: 'PENDING', version: 1 });
  });

  it('keeps each request under the server\'s 1 MiB body: 1,000 lines of 2 KB arguments go in more than one', async () => {
    const file = join(dir, 'wide.jsonl');
    const payload = 'x'.repeat(2000);
    writeFileSync(file, lines(...Array.from({ length: 1000 }, (_, i) => ({ name: 'demo.echo', args: [payload, i] }))));
    const result = await runCli(['enqueue', '--from-jsonl', file], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1000);
    const [row] = await server.sql<{ n: number; batches: number }[]>`SELECT count(*)::int AS n, count(DISTINCT enqueued_at)::int AS batches FROM tasks`;
    expect(row).toEqual({ n: 1000, batches: 3 });
  });

  it('a batch the server refuses stores none of its lines, names the line, and says what the batches before it stored (exit 2)', async () => {
    const file = join(dir, 'bad-args.jsonl');
    const objects: unknown[] = Array.from({ length: 12 }, (_, i) => ({ name: 'demo.echo', args: [i] }));
    objects[7] = { name: 'math.copysign', args: { not: 'a list' } };
    writeFileSync(file, lines(...objects));
    const result = await runCli(['enqueue', '--from-jsonl', file, '--batch', '5'], env);
    expect(result.code).toBe(2);
    expect(result.stdout.trim().split('\n')).toHaveLength(5);
    expect(result.stderr).toBe(
      'taskwire: INVALID_ARGUMENTS: --from-jsonl line 8: args must be a JSON array; the 5 tasks of the lines before line 6 were stored, nothing from it on\n',
    );
    expect(await storedArgs()).toEqual([0, 1, 2, 3, 4]);

    const json = await runCli(['enqueue', '--from-jsonl', file, '--batch', '5', '--json'], env);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'INVALID_ARGUMENTS', field: '--from-jsonl:8.args', message: expect.stringContaining('--from-jsonl line 8: args must be a JSON array') },
    });
  });

  it('a refused batch lists every invalid line of it, not only the first', async () => {
    const file = join(dir, 'several-bad.jsonl');
    const objects: unknown[] = Array.from({ length: 8 }, (_, i) => ({ name: 'demo.echo', args: [i] }));
    objects[2] = { name: 'math.copysign', args: { not: 'a list' } };
    objects[4] = { name: 'no.such.task' };
    objects[6] = { name: 'demo.echo', priority: 101 };
    writeFileSync(file, lines(...objects));
    const result = await runCli(['enqueue', '--from-jsonl', file], env);
    expect([result.code, result.stdout]).toEqual([2, '']);
    expect(result.stderr).toMatch(
      /^taskwire: INVALID_ARGUMENTS: --from-jsonl line 3: args must be a JSON array \(and 2 more invalid lines, below\); nothing was stored\n  line 5: Unknown task name "no\.such\.task"\n  line 7: priority must be an integer from -100 to 100, got 101\n$/,
    );
    const json = JSON.parse((await runCli(['enqueue', '--from-jsonl', file, '--json'], env)).stderr) as { error: { field: string; invalidCount: number; invalid: { line: number; field: string; code: string }[] } };
    expect(json.error.field).toBe('--from-jsonl:3.args');
    expect(json.error.invalidCount).toBe(3);
    expect(json.error.invalid.map((o) => [o.line, o.field, o.code])).toEqual([
      [3, '--from-jsonl:3.args', 'INVALID_ARGUMENTS'],
      [5, '--from-jsonl:5.name', 'UNKNOWN_TASK'],
      [7, '--from-jsonl:7.priority', 'BAD_USER_INPUT'],
    ]);
    expect(await storedArgs()).toEqual([]);
  });

  it('a line that is not a task object stops there, before it is sent (exit 2), naming the line', async () => {
    const cases: [string, RegExp][] = [
      [lines({ name: 'demo.echo', args: [0] }, '{"name": "demo.echo", "args": [1]'), /line 2: not JSON/],
      [lines({ name: 'demo.echo' }, [1, 2]), /line 2: must be a JSON object/],
      [lines({ name: 'demo.echo', arguments: [1] }), /line 1: unknown field "arguments"/],
      [lines({ args: [1] }), /line 1: "name" must be a task name/],
    ];
    for (const [text, message] of cases) {
      const result = await runCli(['enqueue', '--from-jsonl', '-'], env, 30_000, { input: text });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/nothing was stored/);
    }
    expect(await storedArgs()).toEqual([]);
  });

  it('counts lines as wc and tail do (a lone CR is no line end, CRLF and a BOM are read), and --start-line goes on from a line', async () => {
    const file = join(dir, 'crlf.jsonl');
    // A BOM, CRLF ends, a lone CR inside line 2 (whitespace to JSON), and line 4 at fault.
    writeFileSync(file, '\ufeff{"name": "demo.echo", "args": [1]}\r\n{"name": "demo.echo",\r "args": [2]}\r\n{"name": "demo.echo", "args": [3]}\r\n{"name": 7}\r\n{"name": "demo.echo", "args": [5]}\r\n');
    const bad = await runCli(['enqueue', '--from-jsonl', file], env);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--from-jsonl line 4: "name" must be a task name')]);
    expect(await storedArgs()).toEqual([]);
    // After fixing it by hand one goes on from where it stopped; here, past it.
    const rest = await runCli(['enqueue', '--from-jsonl', file, '--start-line', '5'], env);
    expect(rest.code).toBe(0);
    expect(await storedArgs()).toEqual([5]);
  });

  it('Ctrl-C lets the batch in flight land, prints its ids, and says where to go on (exit 130)', async () => {
    const file = join(dir, 'long.jsonl');
    writeFileSync(file, lines(...Array.from({ length: 20_000 }, (_, i) => ({ name: 'demo.echo', args: [i] }))));
    const run = startCli(['enqueue', '--from-jsonl', file, '--batch', '100'], env);
    await waitFor(() => run.stdout.length > 0, { message: 'a first batch stored' });
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    const printed = result.stdout.trim().split('\n').length;
    expect(result.stderr).toBe(`taskwire: interrupted: the ${printed} tasks of the lines before line ${printed + 1} were stored, nothing from it on; go on with --start-line ${printed + 1}\n`);
    // What it printed is what is stored: the batch in flight at the signal included.
    expect(await storedArgs()).toEqual(Array.from({ length: printed }, (_, i) => i));
  });

  /**
   * Starts `enqueue --from-jsonl file --batch 50` and stops the server gracefully while its first batch
   * is in flight (its insert held by a lock on the table), so that the answer comes back on a stopping
   * server and the second batch finds the port closed. Returns the run; the server stays stopped.
   */
  async function stopUnderFirstBatch(file: string): Promise<CliRun> {
    const lock = await server.sql.reserve();
    await lock`BEGIN`;
    await lock`LOCK TABLE tasks IN SHARE MODE`;
    const run = startCli(['enqueue', '--from-jsonl', file, '--batch', '50'], env);
    await waitFor(async () => (await server.sql`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).length > 0, { message: 'a batch in flight' });
    const stopped = server.app.stop();
    await lock`COMMIT`;
    lock.release();
    await stopped;
    return run;
  }

  it('rides out a graceful restart of the server mid-file, keys or none: a refused connection stored nothing', async () => {
    const file = join(dir, 'restart.jsonl');
    writeFileSync(file, lines(...Array.from({ length: 5000 }, (_, i) => ({ name: 'demo.echo', args: [i] }))));
    const { port } = new URL(server.url);
    const run = await stopUnderFirstBatch(file);
    // Its answer said to close the connection; the next batch finds the port closed, and waits.
    await waitFor(async () => (await fetch(server.url).then(() => false, () => true)), { message: 'the port to refuse' });
    await server.app.start(Number(port), '127.0.0.1');
    const result = await run.done;
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout.trim().split('\n')).toHaveLength(5000);
    expect(await storedArgs()).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it('Ctrl-C while it waits for the server to come back stops at once, saying where to go on', async () => {
    const file = join(dir, 'waiting.jsonl');
    writeFileSync(file, lines(...Array.from({ length: 5000 }, (_, i) => ({ name: 'demo.echo', args: [i] }))));
    const { port } = new URL(server.url);
    try {
      const run = await stopUnderFirstBatch(file);
      await waitFor(() => run.stdout.trim().split('\n').length === 50, { message: 'the first batch printed' });
      run.child.kill('SIGINT');
      const result = await run.done;
      expect([result.code, result.stdout.trim().split('\n').length]).toEqual([130, 50]);
      expect(result.stderr).toBe('taskwire: interrupted: the 50 tasks of the lines before line 51 were stored, nothing from it on; go on with --start-line 51\n');
    } finally {
      await server.app.start(Number(port), '127.0.0.1');
    }
    expect(await storedArgs()).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('a wrong address fails at once, as before: only a server that answered this run is waited for', async () => {
    const file = join(dir, 'nowhere.jsonl');
    writeFileSync(file, lines({ name: 'demo.echo', args: [1] }));
    const started = Date.now();
    const result = await runCli(['enqueue', '--from-jsonl', file], { TASKWIRE_URL: 'http://127.0.0.1:1/graphql' });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^taskwire: CONNECTION_FAILED: --from-jsonl lines 1–1: .*; nothing was stored\n/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('a lost answer: a keyed batch is sent again until it lands; an unkeyed one is said to be maybe stored', async () => {
    const proxy = await startProxy(Number(new URL(server.url).port));
    try {
      const file = join(dir, 'keyed.jsonl');
      writeFileSync(file, lines(...Array.from({ length: 3000 }, (_, i) => ({ name: 'demo.echo', args: [i], idempotencyKey: `lost-${i}` }))));
      const run = startCli(['enqueue', '--from-jsonl', file, '--batch', '100'], { TASKWIRE_URL: proxy.url });
      await waitFor(() => run.stdout.length > 0, { message: 'a first batch stored' });
      // The network fails for a moment, every connection cut mid-way.
      proxy.cut();
      setTimeout(() => proxy.reopen(), 500);
      const result = await run.done;
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.stdout.trim().split('\n')).toHaveLength(3000);
      expect(await storedArgs()).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      await server.sql`DELETE FROM tasks`;

      const unkeyed = join(dir, 'unkeyed.jsonl');
      writeFileSync(unkeyed, lines(...Array.from({ length: 3000 }, (_, i) => ({ name: 'demo.echo', args: [i] }))));
      const cut = startCli(['enqueue', '--from-jsonl', unkeyed, '--batch', '100'], { TASKWIRE_URL: proxy.url });
      await waitFor(() => cut.stdout.length > 0, { message: 'a first batch stored' });
      proxy.cut();
      const failed = await cut.done;
      proxy.reopen();
      expect(failed.code).toBe(3);
      expect(failed.stderr).toMatch(/^taskwire: CONNECTION_FAILED: --from-jsonl lines (\d+)–(\d+): .*; the (\d+) tasks of the lines before line \1 were stored, nothing from it on; lines \1–\2 may have been stored too \(the answer was lost\): check before sending them again, or give every line an idempotencyKey and send them again as they are\n/);
    } finally {
      proxy.cut();
      await proxy.close();
    }
  });

  it('refuses a task flag beside it, a NAME, --batch alone, a missing file and an empty one', async () => {
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    const refusals: [string[], RegExp][] = [
      [['enqueue', '--from-jsonl', empty, '--queue', 'q'], /--queue does not go with --from-jsonl/],
      [['enqueue', 'demo.echo', '--from-jsonl', empty], /unexpected argument "demo.echo"/],
      [['enqueue', 'demo.echo', '--batch', '5'], /--batch goes with --from-jsonl/],
      [['enqueue', 'demo.echo', '--start-line', '5'], /--start-line goes with --from-jsonl/],
      [['enqueue', '--from-jsonl', empty, '--batch', '1001'], /--batch must be a whole number from 1 to 1000/],
      [['enqueue', '--from-jsonl', join(dir, 'missing.jsonl')], /cannot read the file \(ENOENT\)/],
      [['enqueue', '--from-jsonl', empty], /no task in it/],
    ];
    for (const [args, message] of refusals) {
      const result = await runCli(args, env);
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(message)]);
    }
  });
});
