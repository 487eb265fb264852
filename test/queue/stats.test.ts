import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueStats } from '../../src/queue/stats.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => {
  await app?.close();
});

const YEAR_MS = 365.25 * 86_400_000;
const ageOf = async (queue: string): Promise<number | null | undefined> =>
  (await queueStats(app.sql)).find((s) => s.queue === queue)?.oldestPendingAgeMs;

describe('queueStats', () => {
  it('counts a waiting task\'s age from when it became due, never from before it was enqueued', async () => {
    // A client whose clock is years behind, or a runAfter of "now" that arrived late: due at once,
    // and waiting since it was enqueued, a moment ago.
    await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'stats-past-run-after', runAfter: new Date(Date.now() - 7 * YEAR_MS) });
    const fresh = await ageOf('stats-past-run-after');
    expect(fresh).not.toBeNull();
    expect(fresh).toBeLessThan(5_000);

    // Enqueued 90 s ago to run 30 s ago: waiting for 30 s. Enqueued and due 90 s ago: 90 s.
    const later = await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'stats-due-later' });
    await app.sql`UPDATE tasks SET enqueued_at = now() - interval '90 seconds', run_after = now() - interval '30 seconds' WHERE id = ${later.id}`;
    const waiting = await ageOf('stats-due-later');
    expect(waiting).toBeGreaterThanOrEqual(30_000);
    expect(waiting).toBeLessThan(35_000);

    const old = await app.deps.queue.enqueue({ name: 'demo.echo', queue: 'stats-due-later' });
    await app.sql`UPDATE tasks SET enqueued_at = now() - interval '90 seconds', run_after = now() - interval '90 seconds' WHERE id = ${old.id}`;
    const oldest = await ageOf('stats-due-later');
    expect(oldest).toBeGreaterThanOrEqual(90_000);
    expect(oldest).toBeLessThan(95_000);
  });
});
