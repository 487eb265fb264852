import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';
import { chain, chord } from '../../src/queue/workflows/canvas.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { percentiles } from '../lib/stats.js';
import { range } from '../lib/wait.js';
import { createTaskwireSystem, NOOP_TASK } from '../systems/taskwire.js';

/** Enqueues of a `workflowSteps`-step chain timed per repetition (the median is recorded). */
const CREATES = 5;

/**
 * (w) Workflows, issue 13.
 * - Fan-in: `fanInChords` chords, one after another, each of `fanInWidth` no-op header tasks and
 *   a callback, run by one runner (concurrency 10). Per chord: the last header task's
 *   finished_at (set in the statement that records it) → the callback's RELEASED event (written
 *   by that statement's trigger: claimable from its commit), and → the callback's started_at (a
 *   worker woken by the NOTIFY actually claimed it). p50/p99 over every chord of the run's
 *   repetitions are computed by the report from the per-repetition values recorded here (the
 *   worst chord of a repetition is its "p99").
 * - Creating a `workflowSteps`-step workflow (a chain) with `workflows.enqueue`: one statement,
 *   one round trip; wall-clock ms of the call, median of CREATES per repetition.
 */
export async function workflowFanInScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const { fanInWidth, fanInChords, workflowSteps } = job.sizes;
  for (let rep = 0; rep < job.repeat; rep++) {
    const database = await freshDatabase(job.adminUrl, job.template);
    const system = await createTaskwireSystem(database.url);
    const sql = postgres(database.url, { max: 2, onnotice: () => undefined });
    try {
      const q = system.deps.queue;
      // Creation, with no worker running; the workflows are cancelled before the fan-in runs.
      const steps = chain(...range(0, workflowSteps).map((i) => ({ name: NOOP_TASK, args: [i] })));
      await q.workflows.cancel((await q.workflows.enqueue(steps)).id); // warm-up: plans, pool
      const createMs: number[] = [];
      for (let i = 0; i < CREATES; i++) {
        const t0 = performance.now();
        const wf = await q.workflows.enqueue(steps);
        createMs.push(performance.now() - t0);
        await q.workflows.cancel(wf.id);
      }
      rec.add(M.workflowCreateMs, 'ms', percentiles(createMs).p50);

      await system.startWorker(() => undefined);
      const releaseMs: number[] = [];
      const claimMs: number[] = [];
      for (let c = 0; c < fanInChords; c++) {
        const wf = await q.workflows.enqueue(chord(range(0, fanInWidth).map((i) => ({ name: NOOP_TASK, args: [i] })), { name: NOOP_TASK, args: [-1] }));
        const callback = wf.steps.at(-1)?.taskId as string;
        for (;;) {
          const [row] = await sql`SELECT status FROM workflows WHERE id = ${wf.id}`;
          if (row?.status !== 'RUNNING') break;
          await delay(20);
        }
        const [m] = await sql`
          WITH last AS (SELECT max(finished_at) AS at FROM tasks WHERE workflow_id = ${wf.id} AND id <> ${callback})
          SELECT extract(epoch FROM (SELECT at FROM task_events WHERE task_id = ${callback} AND type = 'RELEASED') - last.at) * 1000 AS release_ms,
                 extract(epoch FROM (SELECT started_at FROM tasks WHERE id = ${callback}) - last.at) * 1000 AS claim_ms
          FROM last`;
        releaseMs.push(Number(m?.release_ms));
        claimMs.push(Number(m?.claim_ms));
      }
      const release = percentiles(releaseMs);
      const claim = percentiles(claimMs);
      rec.add(M.fanInReleaseP50, 'ms', release.p50);
      rec.add(M.fanInReleaseP99, 'ms', release.p99);
      rec.add(M.fanInClaimP50, 'ms', claim.p50);
      rec.add(M.fanInClaimP99, 'ms', claim.p99);
      if (rep === 0) {
        rec.notes.push(
          `workflow-fan-in: ${fanInChords} chords of ${fanInWidth} no-op tasks + a callback per repetition, one runner (concurrency 10); ` +
            `creation: a chain of ${workflowSteps} steps, median of ${CREATES}`,
        );
      }
    } finally {
      await system.stopWorker().catch(() => undefined);
      await sql.end();
      await system.close();
      await database.drop();
    }
  }
}
