import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../src/queue/states.js';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { alive, describeProcess, killHard, LEASE_LOG_SQL, spawnCli } from '../helpers/reliability-processes.js';
import { RELIABILITY_TABLES_SQL, RELIABILITY_TASKS, reliabilityTasks } from '../helpers/reliability-tasks.js';
import { waitFor } from '../helpers/wait.js';

// Fault 5: handlers that misbehave, run end to end in a worker child process with ONE slot:
// every outcome is recorded clearly, and the same slot then runs the next task.
let app: QueueTestApp;
let worker: ChildWorker | undefined;
beforeAll(async () => {
  app = await createQueueTestApp({ MAINTENANCE_INTERVAL_MS: '100' }, reliabilityTasks);
  await app.sql.unsafe(RELIABILITY_TABLES_SQL);
  await app.sql.unsafe(LEASE_LOG_SQL);
});
// A test that failed before stopping its worker leaves it claiming the next test's tasks: stopped here.
afterEach(async () => {
  if (worker && alive(worker)) await worker.kill();
});
afterAll(async () => {
  if (worker && alive(worker)) await worker.kill();
  await app.deps.rescuer.stop();
  await app.close();
});

interface Case {
  name: string;
  args?: unknown[];
  status: TaskStatus;
  exceptionType?: string;
}

/** How long the worker waits for a handler that ignores its abort before it takes the slot back. */
const ABANDON_AFTER_MS = 1500;

// In this order (priority), one at a time: the hung handler holds the only slot first.
const CASES: Case[] = [
  { name: 'rel.hang', status: 'FAILED', exceptionType: 'TimeoutError' },
  { name: 'rel.block', args: [1000, 600], status: 'SUCCEEDED' },
  { name: 'rel.throw-string', status: 'FAILED', exceptionType: 'NonError(string)' },
  { name: 'rel.throw-undefined', status: 'FAILED', exceptionType: 'NonError(undefined)' },
  { name: 'rel.throw-cycle', status: 'FAILED', exceptionType: 'NonError(object)' },
  { name: 'rel.return-undefined', status: 'SUCCEEDED' },
  { name: 'rel.return-bigint', status: 'FAILED', exceptionType: 'ResultNotSerializable' },
  { name: 'rel.return-cycle', status: 'FAILED', exceptionType: 'ResultNotSerializable' },
  { name: 'rel.return-large', args: [20_000], status: 'FAILED', exceptionType: 'ResultTooLarge' },
  { name: 'rel.run', args: [0], status: 'SUCCEEDED' },
];

describe('misbehaving handlers in a worker process', () => {
  it('each ends in a recorded outcome; the one slot is reused and its lease renewed across a blocked second', { timeout: 120_000 }, async () => {
    const tasks = await app.deps.queue.enqueueMany(CASES.map((c, i) => ({ name: c.name, args: c.args, priority: 100 - i })));
    // The rescuer runs throughout: had a lease run out (the blocked second), it would take the task.
    app.deps.rescuer.start();
    worker = await startChildWorker(app.database.url, {
      TASK_MODULES: RELIABILITY_TASKS,
      WORKER_CONCURRENCY: '1',
      // A lease that outlasts the blocked second with room to spare on a loaded machine.
      LEASE_MS: '5000',
      HEARTBEAT_MS: '200',
      WORKER_POLL_INTERVAL_MS: '50',
      MAX_RESULT_BYTES: '10000',
      // The hung handler's slot comes back this long after its abort (default 5 s, waited out whole).
      TEST_ABANDON_AFTER_MS: String(ABANDON_AFTER_MS),
    });
    const ids = tasks.map((t) => t.id);
    const done = await waitFor(
      async () => {
        const rows = await app.deps.queue.getTasks(ids);
        return rows.every((t) => t.finishedAt !== null) ? rows : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: 'every misbehaving task to finish' },
    );
    expect(alive(worker)).toBe(true);
    const byId = new Map(done.map((t) => [t.id, t]));
    const ordered = tasks.map((t) => byId.get(t.id)!);

    ordered.forEach((task, i) => {
      const c = CASES[i]!;
      expect({ name: task.name, status: task.status }).toEqual({ name: c.name, status: c.status });
      // One attempt each, on the same worker: nothing was rescued or retried.
      expect(task.attempts).toBe(1);
      expect(task.workerIds).toEqual([worker!.workerId]);
      if (c.exceptionType) {
        expect(task.errors).toHaveLength(1);
        expect(task.errors[0]).toMatchObject({ exceptionType: c.exceptionType, attempt: 1, workerId: worker!.workerId });
        // Readable: a non-empty message, no "[object Object]".
        expect(task.errors[0]!.message.length).toBeGreaterThan(0);
        expect(task.errors[0]!.message).not.toContain('[object Object]');
      } else {
        expect(task.errors).toEqual([]);
      }
    });
    expect(byId.get(ids[5]!)?.returnValue).toBeNull(); // returned undefined → SUCCEEDED with null
    expect(byId.get(ids[4]!)?.errors[0]?.message).toContain('cyclic');
    expect(byId.get(ids[3]!)?.errors[0]?.message).toBe('undefined');

    // One slot, reused: the tasks ran one after another, in order. The hung handler held the
    // slot until it was abandoned (timeout 300 ms + ABANDON_AFTER_MS to stop); only then did the next start.
    for (let i = 1; i < ordered.length; i++) {
      expect(ordered[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(ordered[i - 1]!.startedAt!.getTime());
    }
    const hang = ordered[0]!;
    const heldMs = ordered[1]!.startedAt!.getTime() - hang.startedAt!.getTime();
    expect(heldMs).toBeGreaterThanOrEqual(ABANDON_AFTER_MS);

    // The blocked second: leases were written before the block and again after it, while the
    // same attempt still ran; the rescuer never took the task (attempts 1, no WorkerLost).
    const block = ordered[1]!;
    const [b] = await app.sql`SELECT from_ms, until_ms FROM blocks WHERE task_id = ${block.id}`;
    expect(Number(b?.untilMs) - Number(b?.fromMs)).toBeGreaterThanOrEqual(1000);
    const leases = await app.sql`SELECT attempts, lease_expires_at, extract(epoch FROM at) * 1000 AS at_ms FROM lease_log WHERE task_id = ${block.id} ORDER BY at`;
    // The block's times are Date.now(), cut to the millisecond; a lease write's is the database's to the
    // microsecond. The claim's own write comes before the handler starts, but when the handler starts at
    // once it falls in the block's first millisecond (written at .125 of the millisecond the block's
    // start reads as .000: the failure whose cause was not found). Before means before that millisecond ends.
    const before = leases.filter((l) => Number(l.atMs) < Number(b?.fromMs) + 1);
    const after = leases.filter((l) => Number(l.atMs) > Number(b?.untilMs) && Number(l.atMs) < block.finishedAt!.getTime());
    // The message carries every lease write, the block's times and the task's events, should it fail again.
    const events = await app.sql`SELECT version, type, extract(epoch FROM at) * 1000 AS at_ms FROM task_events WHERE task_id = ${block.id} ORDER BY version`;
    const evidence = JSON.stringify({ block: b, leases, events });
    expect(before.length, evidence).toBeGreaterThanOrEqual(1);
    expect(after.length, evidence).toBeGreaterThanOrEqual(1);
    expect(leases.every((l) => l.attempts === 1)).toBe(true);
    const renewedTo = Math.max(...after.map((l) => (l.leaseExpiresAt as Date).getTime()));
    expect(renewedTo).toBeGreaterThan(Number(b?.untilMs));
    console.log(
      `[fault 5: misbehaving handlers] ${CASES.length} tasks on one slot, all finished; hung handler held the slot ` +
        `${heldMs} ms; blocked ${Number(b?.untilMs) - Number(b?.fromMs)} ms, ` +
        `${before.length} lease writes before and ${after.length} after the block, none rescued`,
    );

    const stopped = await worker.stop();
    expect(stopped).toMatchObject({ code: 0, finished: CASES.length });
  });

  /** A `taskwire worker` process on the reliability tasks, four slots. */
  const spawnWorker = (env: Record<string, string> = {}) =>
    spawnCli('worker', { DATABASE_URL: app.database.url, TASK_MODULES: RELIABILITY_TASKS, WORKER_CONCURRENCY: '4', WORKER_POLL_INTERVAL_MS: '50', ...env });

  /** A task that runs for a minute beside the misbehaving one, RUNNING when this returns. */
  async function runningInnocent(): Promise<{ id: string }> {
    const [innocent] = await app.deps.queue.enqueueMany([{ name: 'rel.run', args: [60_000], maxAttempts: 1 }]);
    await waitFor(async () => (await app.deps.queue.getTask(innocent!.id))?.status === 'RUNNING', { timeoutMs: 20_000, message: 'the innocent task to run' });
    return innocent!;
  }

  // Node's default ends a process on either, with every task it runs left to the rescuer: one
  // handler's mistake took the server, the worker and the embedded PostgreSQL down with it.
  it('a stray rejection in a handler is logged and the worker goes on; an uncaught throw stops it gracefully (exit 1), its tasks released', { timeout: 90_000 }, async () => {
    const cli = spawnWorker({ SHUTDOWN_GRACE_MS: '500' });
    try {
      await cli.waitForLog((l) => l.msg === 'worker started');
      const [stray] = await app.deps.queue.enqueueMany([{ name: 'rel.stray-rejection' }]);
      await waitFor(async () => (await app.deps.queue.getTask(stray!.id))?.status === 'SUCCEEDED', { timeoutMs: 20_000, message: 'the task with a stray rejection to succeed' });
      const logged = await cli.waitForLog((l) => l.msg.startsWith('unhandled promise rejection'));
      expect((logged.err as { message?: string } | undefined)?.message).toBe('stray rejection from a handler');
      expect(alive(cli), describeProcess(cli)).toBe(true);

      // An innocent task running beside the one that throws from its timer.
      const innocent = await runningInnocent();
      const [thrower] = await app.deps.queue.enqueueMany([{ name: 'rel.throw-in-timer' }]);
      const code = await new Promise<number | null>((resolve) => cli.child.once('exit', (c) => resolve(c)));
      expect(code, describeProcess(cli)).toBe(1);
      expect(cli.logs.some((l) => l.msg.startsWith('uncaught exception') && (l.err as { message?: string } | undefined)?.message === 'uncaught in a handler timer')).toBe(true);
      expect(cli.logs.some((l) => l.msg === 'worker stopped')).toBe(true);
      // Both were handed back, not left RUNNING for the rescuer: waiting again, no attempt counted.
      for (const id of [innocent.id, thrower!.id]) {
        const task = await app.deps.queue.getTask(id);
        expect(task, id).toMatchObject({ status: 'PENDING', attempts: 0 });
      }
    } finally {
      await killHard(cli);
      await app.sql`DELETE FROM tasks WHERE name IN ('rel.run', 'rel.throw-in-timer')`;
    }
  });

  // Nothing can stop a handler from ending the process; the log at least says so, with what it stranded.
  it('a handler calling process.exit() is logged with the attempts it leaves to the rescuer', { timeout: 60_000 }, async () => {
    const cli = spawnWorker();
    try {
      await cli.waitForLog((l) => l.msg === 'worker started');
      const innocent = await runningInnocent();
      const [exiter] = await app.deps.queue.enqueueMany([{ name: 'rel.process-exit' }]);
      const code = await new Promise<number | null>((resolve) => cli.child.once('exit', (c) => resolve(c)));
      expect(code, describeProcess(cli)).toBe(3);
      const line = cli.logs.find((l) => l.msg.startsWith('process.exit() called outside taskwire'));
      expect(line, describeProcess(cli)).toMatchObject({ code: 3, inHand: 2 });
      expect(line?.tasks).toEqual(expect.arrayContaining([`${innocent.id}:1`, `${exiter!.id}:1`]));
    } finally {
      await killHard(cli);
      await app.sql`DELETE FROM tasks WHERE name IN ('rel.run', 'rel.process-exit')`;
    }
  });
});
