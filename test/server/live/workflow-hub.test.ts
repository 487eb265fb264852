import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { createWorkflowHub } from '../../../src/server/live/workflow-hub.js';
import { WfChangedDocument } from '../../generated/graphql.js';
import { useTestServer } from '../../helpers/app.js';
import { waitFor } from '../../helpers/wait.js';

const env = useTestServer();

/** a → b, both demo.echo, through the core (no worker runs here: they stay PENDING and BLOCKED). */
const enqueue = () =>
  env.server.deps.queue.workflows.enqueue({ steps: [{ ref: 'a', task: { name: 'demo.echo' } }, { ref: 'b', task: { name: 'demo.echo' }, dependsOn: ['a'] }] });

describe('createWorkflowHub', () => {
  it('reads a first state once for subscribers that ask together, and ends every stream on close', async () => {
    const hub = createWorkflowHub({ sql: env.server.sql, workflows: env.server.deps.queue.workflows, log: silentLogger });
    await hub.start();
    const w = await enqueue();
    const streams = await Promise.all(Array.from({ length: 10 }, () => hub.watchWorkflow(w.id)));
    expect(hub.stats.reads).toBe(1);
    expect(hub.stats.subscriptions).toBe(10);
    const firsts = await Promise.all(streams.map((s) => s.next()));
    expect(firsts.map((r) => r.value?.version)).toEqual(Array(10).fill(w.version));
    await hub.close(1000);
    // Ended: what each consumer reads next is the end, and the hub holds no subscriber.
    expect((await Promise.all(streams.map((s) => s.next()))).every((r) => r.done)).toBe(true);
    expect(hub.stats.subscriptions).toBe(0);
    await expect(hub.watchWorkflow(w.id)).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('answers NOT_FOUND for another tenant through a scoped view, as for an unknown id', async () => {
    const hub = createWorkflowHub({ sql: env.server.sql, workflows: env.server.deps.queue.workflows, log: silentLogger });
    await hub.start();
    try {
      const w = await enqueue();
      await expect(hub.scoped('someone-else').watchWorkflow(w.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const own = await hub.scoped('default').watchWorkflow(w.id);
      expect((await own.next()).value?.id).toBe(w.id);
      await own.return?.();
      await expect(hub.watchWorkflow('not-a-uuid')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(hub.stats.subscriptions).toBe(0);
    } finally {
      await hub.close();
    }
  });

  it('re-reads watched workflows after the listening connection is lost and comes back', async () => {
    const w = await enqueue();
    const stream = env.server.subscribeWs(WfChangedDocument, { id: w.id });
    await stream.waitFor((v) => v.workflowChanged.version === w.version);
    const sql = env.server.database.db.sql;
    // A change whose notification is lost: written without NOTIFY, as if sent while nobody listened
    // (a direct UPDATE on purpose: no statement of the core changes a workflow without notifying).
    await sql`UPDATE workflows SET status = 'CANCELLED', finished_at = now(), version = version + 1 WHERE id = ${w.id}`;
    const killed = await sql`
      SELECT pg_terminate_backend(pid, 5000) AS done FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^(un)?listen '`;
    expect(killed.map((r) => r.done)).toEqual([true]);
    expect(await stream.done).toBe('complete');
    expect(stream.values.map((v) => [v.workflowChanged.version, v.workflowChanged.status])).toEqual([
      [w.version, 'RUNNING'],
      [w.version + 1, 'CANCELLED'],
    ]);
    await waitFor(() => env.server.app.workflowStats.subscriptions === 0, { message: 'the subscription to leave the hub' });
  });
});
