import { describe, expect, it } from 'vitest';
import { claimTasks } from '../../../src/queue/sql/claim-tasks.js';
import { useQueueTestApp } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';
import { idsOf, statusesOf } from '../../helpers/workflows.js';

// cancelWorkflow against a claim in flight (a tester's order pipeline: the workflow answered
// CANCELLED, then a step a worker was claiming at that moment started, and ran to SUCCEEDED without
// ever being asked to stop).
const env = useQueueTestApp();

const step = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn });

async function eventTypes(id: string): Promise<string[]> {
  const rows = await env.app.sql<{ type: string }[]>`SELECT type FROM task_events WHERE task_id = ${id} ORDER BY version`;
  return rows.map((r) => r.type);
}

describe('workflows.cancel', () => {
  it('waits for a claim taking a step, then asks that step to stop: no step starts after the cancel commits', async () => {
    const q = env.app.deps.queue;
    const wf = await q.workflows.enqueue({ steps: [step('charge'), step('ship', ['charge'])] });
    const id = idsOf(wf);
    // A worker's claim, its transaction not yet committed: it holds the step's row.
    const claimer = await env.app.sql.reserve();
    try {
      await claimer`BEGIN`;
      const claimed = await claimTasks(claimer, { workerId: 'w-claiming', limit: 10, queues: [], leaseMs: 60_000 });
      expect(claimed.map((t) => t.id)).toEqual([id.charge]);

      const cancelling = q.workflows.cancel(wf.id);
      await waitFor(
        async () => {
          const [row] = await env.app.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
          return Number(row?.n) > 0;
        },
        { message: 'the cancel to wait for the claimed step' },
      );
      // Not committed while the claim is open: nobody can read the workflow CANCELLED with a step about to start.
      expect((await q.workflows.get(wf.id))?.status).toBe('RUNNING');
      await claimer`COMMIT`;
      expect(await cancelling).toMatchObject({ status: 'CANCELLED' });
    } finally {
      claimer.release();
    }
    // The claimed step runs with its cancellation asked (its worker aborts it, or never starts it); the other never starts.
    expect(await q.getTask(id.charge as string)).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    expect(await eventTypes(id.charge as string)).toEqual(['ENQUEUED', 'STARTED', 'CANCEL_REQUESTED']);
    expect(await statusesOf(env.app.sql, wf.id)).toEqual({ charge: 'RUNNING', ship: 'CANCELLED' });
  });
});
