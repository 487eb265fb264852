import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowStepInput } from '../../src/queue/workflows/types.js';
import { startChildWorker, type ChildWorker } from '../helpers/child-workers.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';
import { waitFor } from '../helpers/wait.js';
import { chaosStep, WORKFLOW_CHAOS_TASKS } from '../helpers/workflow-chaos-tasks.js';
import { miscountedWorkflows, strandedSteps, strandedWorkflows } from '../helpers/workflows.js';

// Random workflows (fixed seed) run by worker processes while steps fail, workflows and steps are
// cancelled, failed steps retried and a worker is SIGKILLed. Whatever the interleaving, the end
// state must hold the invariants, each checked by a query: no BLOCKED step whose parents have
// all ended, no RUNNING workflow with nothing left to run, counters equal to a count.
const SEED = 20261203;
const WORKFLOWS = 30;
const WORKER_ENV = { TASK_MODULES: WORKFLOW_CHAOS_TASKS, WORKER_CONCURRENCY: '8', LEASE_MS: '1500', HEARTBEAT_MS: '300', WORKER_POLL_INTERVAL_MS: '100' };

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomGraph(rand: () => number): WorkflowStepInput[] {
  const size = 5 + Math.floor(rand() * 20);
  const steps: WorkflowStepInput[] = [];
  for (let i = 0; i < size; i++) {
    const parents = new Set<string>();
    const wanted = i === 0 ? 0 : Math.floor(rand() * 4);
    for (let k = 0; k < wanted; k++) parents.add(`s${Math.floor(rand() * i)}`);
    const slow = rand() < 0.15;
    steps.push({
      ref: `s${i}`,
      task: { name: 'chaos.step', args: [slow ? 300 + Math.floor(rand() * 400) : Math.floor(rand() * 20), rand() < 0.1], maxAttempts: rand() < 0.5 ? 1 : 2, backoff: { baseMs: 5, maxMs: 20 } },
      dependsOn: [...parents],
      onDependencyFailure: rand() < 0.25 ? 'RUN_ANYWAY' : 'CANCEL',
    });
  }
  return steps;
}

let app: QueueTestApp;
const children: ChildWorker[] = [];
beforeAll(async () => {
  app = await createQueueTestApp({ MAINTENANCE_INTERVAL_MS: '200', LEASE_MS: '1500', HEARTBEAT_MS: '300' }, [chaosStep]);
});
afterAll(async () => {
  await Promise.all(children.map((c) => (c.child.exitCode === null && c.child.signalCode === null ? c.kill() : undefined)));
  await app.deps.rescuer.stop();
  await app.close();
});

describe('workflow chaos', () => {
  it(`${WORKFLOWS} random workflows under failures, cancels, retries and a SIGKILL end with no step or workflow stranded`, { timeout: 180_000 }, async () => {
    const rand = random(SEED);
    const q = app.deps.queue;
    const workflows = [];
    for (let i = 0; i < WORKFLOWS; i++) workflows.push(await q.workflows.enqueue({ name: `chaos-${i}`, steps: randomGraph(rand) }));
    const stepIds = workflows.flatMap((w) => w.steps.map((s) => s.taskId));
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;

    children.push(...(await Promise.all([startChildWorker(app.database.url, WORKER_ENV), startChildWorker(app.database.url, WORKER_ENV)])));
    app.deps.rescuer.start();

    // The fault schedule (a cadence, not a wait for a state): 12 rounds of chaos.
    for (let round = 0; round < 12; round++) {
      await delay(150);
      if (round % 4 === 1) await q.workflows.cancel(pick(workflows).id);
      await q.cancelTask(pick(stepIds)).catch(() => undefined); // finished already: CONFLICT, fine
      const [failed] = await app.sql`SELECT id FROM tasks WHERE workflow_id IS NOT NULL AND status = 'FAILED' ORDER BY id LIMIT 1 OFFSET ${Math.floor(rand() * 3)}`;
      if (failed) await q.retryTask(String(failed.id)).catch(() => undefined);
      if (round === 5) {
        const victim = children.shift() as ChildWorker;
        await victim.kill();
        children.push(await startChildWorker(app.database.url, WORKER_ENV));
      }
    }

    await waitFor(
      async () => {
        const [row] = await app.sql`SELECT count(*)::int AS n FROM workflows WHERE status = 'RUNNING'`;
        return Number(row?.n) === 0;
      },
      { timeoutMs: 120_000, intervalMs: 200, message: 'every workflow to end' },
    );
    expect(await strandedSteps(app.sql)).toEqual([]);
    expect(await strandedWorkflows(app.sql)).toEqual([]);
    expect(await miscountedWorkflows(app.sql)).toEqual([]);
    // Nothing left to run anywhere, and every workflow's status agrees with its steps.
    const [left] = await app.sql`SELECT count(*)::int AS n FROM tasks WHERE workflow_id IS NOT NULL AND status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`;
    expect(left?.n).toBe(0);
    const wrong = await app.sql`
      SELECT w.id, w.status FROM workflows w WHERE
        (w.status = 'SUCCEEDED' AND EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_id = w.id AND t.status <> 'SUCCEEDED'))
        OR (w.status = 'FAILED' AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.workflow_id = w.id AND t.status IN ('FAILED', 'CANCELLED')))`;
    expect(wrong).toEqual([]);
    // A CANCEL-policy step never ran after a parent that did not succeed.
    const ranAfterFailure = await app.sql`
      SELECT c.id FROM tasks c WHERE c.workflow_id IS NOT NULL AND c.on_dependency_failure = 'CANCEL' AND c.attempts > 0
        AND EXISTS (SELECT 1 FROM tasks p WHERE p.id = ANY(c.depends_on) AND p.status <> 'SUCCEEDED')`;
    expect(ranAfterFailure).toEqual([]);
    const [statuses] = await app.sql`SELECT count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS ok, count(*) FILTER (WHERE status = 'FAILED')::int AS failed, count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled FROM workflows`;
    // The run exercised every ending.
    expect(statuses).toMatchObject({ ok: expect.any(Number), failed: expect.any(Number), cancelled: expect.any(Number) });
    expect(Math.min(Number(statuses?.ok), Number(statuses?.failed), Number(statuses?.cancelled))).toBeGreaterThan(0);
  });
});
