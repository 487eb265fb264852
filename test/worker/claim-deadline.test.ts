import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/queue/task.js';
import { createClaimLoop } from '../../src/worker/claim-loop.js';
import { createQueueGate } from '../../src/worker/queue-gate.js';
import { useQueueTestApp } from '../helpers/factories.js';
import { captureLog } from '../helpers/log-capture.js';
import { databaseThroughProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

// A claim whose connection stops answering (half-open: the statement runs and commits, its answer
// does not come) must not stop the worker claiming: past its deadline the loop claims again on
// another connection, and what the stuck claim took, should its answer come after all, goes back.
const env = useQueueTestApp();
const QUEUE = 'claim-deadline';

describe('a claim without an answer', () => {
  it('is given up after claimTimeoutMs: the loop claims on another connection, and hands back what the late answer brings', async () => {
    const { proxy, db } = await databaseThroughProxy(env.app.database.url, 2);
    const { log, lines } = captureLog();
    const accepted: Task[] = [];
    const handedBack: Task[] = [];
    const failures: unknown[] = [];
    let goal = 1;
    const loop = createClaimLoop({
      sql: db.sql,
      workerId: 'w-claim-deadline',
      log,
      queues: [QUEUE],
      leaseMs: 60_000,
      pollIntervalMs: 100,
      claimsInFlight: 1,
      claimTimeoutMs: 300,
      wanted: () => Math.max(0, goal - accepted.length),
      gate: createQueueGate({ sql: env.app.sql, log, queues: [QUEUE] }),
      accept: (tasks) => void accepted.push(...tasks),
      handBack: async (tasks) => void handedBack.push(...tasks),
      claimFailed: (error) => void failures.push(error),
    });
    let release: (() => void) | undefined;
    try {
      // A first claim opens a connection and prepares the claim statement on it (a statement new to
      // a connection waits for its description before it runs: held answers would stop it there).
      const first = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: QUEUE });
      loop.start();
      await waitFor(() => accepted.length === 1, { message: 'the first claim' });
      expect(accepted[0]?.id).toBe(first.id);

      release = proxy.holdAnswers();
      goal = 3;
      const stuck = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: QUEUE });
      loop.lookForWork();
      await waitFor(() => failures.length > 0, { message: 'the claim to be given up', timeoutMs: 10_000 });
      expect(failures[0]).toMatchObject({ code: 'WRITE_TIMEOUT' });
      // The stuck claim committed: the task is this worker's in the database, and not in its hands.
      const [row] = await env.app.sql`SELECT status, locked_by FROM tasks WHERE id = ${stuck.id}`;
      expect(row).toMatchObject({ status: 'RUNNING', lockedBy: 'w-claim-deadline' });

      const next = await env.app.deps.queue.enqueue({ name: 'demo.echo', queue: QUEUE });
      await waitFor(() => accepted.length === 2, { message: 'a claim on another connection', timeoutMs: 10_000 });
      expect(accepted.map((t) => t.id)).toEqual([first.id, next.id]);

      // The answer comes after all: its task goes back rather than into the loop's hands.
      release();
      await waitFor(() => handedBack.length === 1, { message: 'the late answer handed back' });
      expect(handedBack[0]?.id).toBe(stuck.id);
      expect(accepted.map((t) => t.id)).toEqual([first.id, next.id]);
      expect(lines.some((l) => l.msg === 'a claim answered after it was given up on; handing its tasks back')).toBe(true);
    } finally {
      release?.();
      await loop.stop();
      proxy.cut();
      await db.close();
      await proxy.close();
    }
  });
});
