import { describe, expect, it } from 'vitest';
import { releaseTasks } from '../../src/queue/sql/release-tasks.js';
import type { Task } from '../../src/queue/task.js';
import { createClaimLoop } from '../../src/worker/claim-loop.js';
import { createQueueGate } from '../../src/worker/queue-gate.js';
import { logOf } from '../helpers/event-log.js';
import { insertTask, useQueueTestApp } from '../helpers/factories.js';
import { captureLog } from '../helpers/log-capture.js';
import { refusedWrites } from '../helpers/refused-writes.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// A claim that commits while its answer is lost with the connection (a network failing one way, then
// cut) leaves tasks RUNNING under the worker that it never heard of. They waited for their lease to run
// out, and the rescuer then counted the attempt they never made: a task of one attempt FAILED as
// WorkerLost without having run. Once the database answers again, the loop looks at what it holds there.
const env = useQueueTestApp();
const QUEUE = 'lost-claim';
const WORKER = 'w-lost-claim';

describe('a claim whose answer was lost', () => {
  it('hands back, once the database is back, the tasks it took and nobody here knows, and claims them again', async () => {
    const { proxy, db } = await databaseThroughProxy(env.app.database.url, 1);
    const { log, lines } = captureLog();
    const accepted: Task[] = [];
    const handedBack: Task[] = [];
    const failures: unknown[] = [];
    let goal = 1;
    const loop = createClaimLoop({
      sql: db.sql,
      workerId: WORKER,
      log,
      queues: [QUEUE],
      // Far longer than the test: the rescuer is not what brings the task back.
      leaseMs: 600_000,
      pollIntervalMs: 100,
      claimsInFlight: 1,
      wanted: () => Math.max(0, goal - accepted.length),
      gate: createQueueGate({ sql: env.app.sql, log, queues: [QUEUE] }),
      accept: (tasks) => void accepted.push(...tasks),
      handBack: async (tasks) => {
        handedBack.push(...tasks);
        await releaseTasks(env.app.sql, { workerId: WORKER, attempts: tasks.map((t) => ({ id: t.id, attempt: t.attempts })), defaultTtlMs: 60_000 });
      },
      claimFailed: (error) => void failures.push(error),
      known: () => new Set(accepted.map((t) => t.id)),
    });
    try {
      // A first claim prepares the claim statement on the connection (a statement new to a connection
      // waits for its description before it runs: with answers dropped nothing would commit). Its task
      // stays in hand, RUNNING: the look must leave it alone.
      const first = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: QUEUE });
      loop.start();
      await waitFor(() => accepted.length === 1, { message: 'the first claim' });

      proxy.dropAnswers();
      goal = 2;
      const lost = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: QUEUE });
      loop.lookForWork();
      await waitFor(async () => {
        const [row] = await env.app.sql`SELECT status, locked_by FROM tasks WHERE id = ${lost.id}`;
        return row?.status === 'RUNNING' && row.lockedBy === WORKER;
      }, { message: 'the claim committed' });
      proxy.cut();
      await waitFor(() => failures.length > 0, { message: 'the claim failed', timeoutMs: 10_000 });
      expect(accepted.map((t) => t.id)).toEqual([first.id]);
      proxy.reopen();

      // Back: the task goes back (RELEASED, its attempt given back), and the loop claims it again.
      await waitFor(() => accepted.length === 2, { message: 'the lost task claimed again', timeoutMs: 10_000 });
      expect(handedBack.map((t) => t.id)).toEqual([lost.id]);
      expect(accepted.map((t) => t.id)).toEqual([first.id, lost.id]);
      expect(accepted[1]?.attempts).toBe(1);
      expect((await logOf(env.app.sql, lost.id)).map(([, type]) => type)).toEqual(['ENQUEUED', 'STARTED', 'RELEASED', 'STARTED']);
      expect(lines.some((l) => l.msg === 'a claim whose answer was lost had taken tasks; handing them back')).toBe(true);
      const [held] = await env.app.sql`SELECT status, locked_by, version FROM tasks WHERE id = ${first.id}`;
      expect(held).toMatchObject({ status: 'RUNNING', lockedBy: WORKER, version: 2 });
    } finally {
      // Cut first: a claim whose answer is still dropped (a step above that timed out) then fails,
      // and the stop does not wait for it for ever, which hid the step behind the test's timeout.
      proxy.cut();
      await loop.stop();
      await db.close();
      await proxy.close();
    }
  });

  it("a runner hands back what such a claim took once its claims go through again, and leaves the task it is running alone", async () => {
    const queue = 'lost-claim-runner';
    const workerId = 'w-lost-claim-runner';
    // A claim refused while the database is "away" makes the runner unsure (a refused statement cannot
    // have committed, but a closed connection's can, and the runner does not tell them apart); the task
    // a lost answer would have left is made by claiming it under the runner's id directly, in a queue
    // the runner does not serve (so that only the look can find it, and nothing claims it again).
    const refused = await refusedWrites(env.app.sql, {
      name: 'lost_claim',
      table: 'tasks',
      event: 'UPDATE',
      when: `NEW.locked_by = '${workerId}' AND NEW.status = 'RUNNING' AND OLD.status <> 'RUNNING'`,
      sqlState: '57P03',
    });
    try {
      const runner = env.app.runner({ workerId, queues: [queue], leaseMs: 600_000, pollIntervalMs: 50 });
      const failures: unknown[] = [];
      runner.on('error', (error: unknown) => void failures.push(error));
      const events: [string, string][] = [];
      runner.on('claimed', (tasks) => void events.push(...tasks.map((t): [string, string] => ['claimed', t.id])));
      runner.on('finished', (task, outcome) => void events.push([`finished ${outcome}`, task.id]));
      await runner.start();
      const running = await env.app.deps.queue.enqueue({ name: 'demo.sleep', args: [1500], queue });
      await waitFor(() => runner.running === 1, { message: 'the sleeping task running' });
      const lost = await insertTask(env.app.sql, { status: 'RUNNING', workerId, queue: 'lost-claim-elsewhere', maxAttempts: 1 });

      await refused.block();
      const next = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue });
      await waitFor(() => failures.length > 0, { message: 'a claim refused' });
      await refused.unblock();

      expect(await env.app.deps.queue.waitFor(next.id, { timeoutMs: 10_000 })).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
      const back = await waitFor(async () => {
        const [row] = await env.app.sql`SELECT status, attempts, locked_by FROM tasks WHERE id = ${lost.id}`;
        return row?.status === 'PENDING' ? row : undefined;
      }, { message: 'the lost task handed back' });
      expect(back).toMatchObject({ attempts: 0, lockedBy: null });
      expect((await logOf(env.app.sql, lost.id)).map(([, type]) => type)).toEqual(['ENQUEUED', 'STARTED', 'RELEASED']);
      const slept = await env.app.deps.queue.waitFor(running.id, { timeoutMs: 15_000 });
      expect(slept).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
      expect((await logOf(env.app.sql, running.id)).map(([, type]) => type)).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
      await env.app.stopRunners();
      // The runner never said it claimed the lost task, so it does not say it finished either (/metrics
      // counts both): only the tasks it ran.
      expect(events.filter(([, id]) => id === lost.id)).toEqual([]);
      expect(events.filter(([, id]) => id === next.id).map(([what]) => what)).toEqual(['claimed', 'finished succeeded']);
    } finally {
      await refused.drop();
    }
  });
});
