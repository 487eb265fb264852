import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { auditViolations, TASK_AUDIT_SQL } from '../helpers/reliability-processes.js';
import { RELIABILITY_TABLES_SQL, RELIABILITY_TASKS, reliabilityTasks } from '../helpers/reliability-tasks.js';
import { waitFor } from '../helpers/wait.js';

// Fault 1: worker processes SIGKILLed mid-drain, again and again. Nothing may be lost, and a
// task may run twice (at-least-once) but never be recorded twice.
const TOTAL = Number(process.env.KILL_TASKS ?? 10_000);
const WORKERS = 4;
const KILL_EVERY_MS = 1000;
const WORKER_ENV = {
  TASK_MODULES: RELIABILITY_TASKS,
  WORKER_CONCURRENCY: '25',
  DB_POOL_SIZE: '5',
  LEASE_MS: '2000',
  HEARTBEAT_MS: '500',
  WORKER_POLL_INTERVAL_MS: '200',
};

let app: QueueTestApp;
const children: ChildWorker[] = [];
beforeAll(async () => {
  // The rescuer runs here, in the parent, every ~200 ms: it takes back what killed workers held.
  app = await createQueueTestApp({ MAINTENANCE_INTERVAL_MS: '200', LEASE_MS: '2000', HEARTBEAT_MS: '500' }, reliabilityTasks);
  await app.sql.unsafe(RELIABILITY_TABLES_SQL);
  await app.sql.unsafe(TASK_AUDIT_SQL);
});
afterAll(async () => {
  await Promise.all(children.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill() : undefined)));
  await app.deps.rescuer.stop();
  await app.close();
});

async function terminalCount(): Promise<number> {
  const [row] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`;
  return Number(row?.n);
}

describe('a worker SIGKILLed mid-task', () => {
  it(`drains ${TOTAL} tasks across ${WORKERS} processes while one is killed every ~${KILL_EVERY_MS} ms: none lost, none recorded twice`, { timeout: 240_000 }, async () => {
    const live = await Promise.all(Array.from({ length: WORKERS }, () => startChildWorker(app.database.url, WORKER_ENV)));
    children.push(...live);
    app.deps.rescuer.start();
    // 0–19 ms each: enough work in flight that every kill interrupts some of it.
    await app.deps.queue.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ name: 'rel.run', args: [i % 20] })));
    const started = performance.now();

    // The fault schedule: a fixed cadence is the point here, not a wait for some state.
    const killed: string[] = [];
    const replacements: Promise<void>[] = [];
    const drained = new AbortController();
    const killer = (async () => {
      while (!drained.signal.aborted) {
        await delay(KILL_EVERY_MS, undefined, { signal: drained.signal }).catch(() => undefined);
        // The oldest live worker: it has been claiming longest. Its replacement starts at once,
        // without holding up the next kill.
        // Never below WORKERS - 2 live: on a loaded machine a worker takes seconds to start, and a
        // fixed cadence alone killed workers faster than they came back, until none was left to
        // drain (the test timed out with nothing wrong but load). Then a round is skipped.
        const victim = drained.signal.aborted || live.length < WORKERS - 1 ? undefined : live.shift();
        if (!victim) continue;
        const [held] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'RUNNING' AND locked_by = ${victim.workerId}`;
        await victim.kill();
        killed.push(`${victim.workerId} holding ${held?.n}`);
        const replacement = startChildWorker(app.database.url, WORKER_ENV).then((w) => {
          children.push(w);
          live.push(w);
        });
        replacements.push(replacement);
      }
    })();
    try {
      await waitFor(async () => (await terminalCount()) === TOTAL, {
        timeoutMs: 200_000,
        intervalMs: 100,
        message: `all ${TOTAL} tasks to finish`,
      });
    } finally {
      drained.abort();
      await killer;
      await Promise.all(replacements);
    }
    const ms = Math.round(performance.now() - started);

    // Every task SUCCEEDED, by the attempt that holds it: its result is that attempt's number,
    // that attempt's worker ran it to the end, and each earlier attempt was rescued (WorkerLost).
    const [final] = await app.sql`
      SELECT count(*)::int AS tasks,
        count(*) FILTER (WHERE t.status = 'SUCCEEDED')::int AS succeeded,
        count(*) FILTER (WHERE t.return_value_json::jsonb = to_jsonb(t.attempts))::int AS own_result,
        count(*) FILTER (WHERE cardinality(t.worker_ids) = t.attempts)::int AS one_worker_per_attempt,
        count(*) FILTER (WHERE jsonb_array_length(t.errors) = t.attempts - 1
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t.errors) e WHERE e->>'exceptionType' <> 'WorkerLost'))::int AS lost_attempts_explained,
        count(*) FILTER (WHERE EXISTS (SELECT 1 FROM executions e
          WHERE e.task_id = t.id AND e.attempt = t.attempts AND e.worker_id = t.worker_ids[t.attempts]))::int AS result_from_its_run,
        count(*) FILTER (WHERE t.attempts > 1)::int AS retried,
        count(*) FILTER (WHERE t.locked_by IS NOT NULL OR t.lease_expires_at IS NOT NULL)::int AS still_locked
      FROM tasks t`;
    expect(final).toEqual({
      tasks: TOTAL,
      succeeded: TOTAL,
      ownResult: TOTAL,
      oneWorkerPerAttempt: TOTAL,
      lostAttemptsExplained: TOTAL,
      resultFromItsRun: TOTAL,
      retried: expect.any(Number),
      stillLocked: 0,
    });
    expect(await auditViolations(app.sql)).toEqual({ twiceSucceeded: 0, changedAfterFinish: 0, versionJumps: 0 });
    const [succeededOnce] = await app.sql`SELECT count(DISTINCT task_id)::int AS n FROM task_audit WHERE new_status = 'SUCCEEDED'`;
    expect(succeededOnce?.n).toBe(TOTAL);

    // At-least-once: runs of the handler that completed, per task.
    const [runs] = await app.sql`
      SELECT count(*)::int AS executions,
        (SELECT count(*)::int FROM (SELECT task_id FROM executions GROUP BY task_id HAVING count(*) > 1) d) AS ran_twice,
        (SELECT count(*)::int FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.task_id = t.id)) AS never_ran
      FROM executions`;
    expect(runs?.neverRan).toBe(0);
    expect(killed.length).toBeGreaterThanOrEqual(3);
    console.log(
      `[fault 1: worker SIGKILL] ${TOTAL} tasks, ${WORKERS} worker processes, ${killed.length} killed (${killed.join(', ')}); ` +
        `drained in ${ms} ms; lost 0; retried after a kill ${final?.retried}; handler ran to the end twice or more for ${runs?.ranTwice} ` +
        `(${runs?.executions} completed runs); recorded SUCCEEDED twice 0; results overwritten 0`,
    );

    const stops = await Promise.all(live.map((w) => w.stop()));
    expect(stops.map((s) => s.code)).toEqual(live.map(() => 0));
  });
});
