import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  alive,
  auditViolations,
  ENQUEUE,
  WATCH,
  type Change,
  gql,
  killHard,
  retryingClient,
  rssMiB,
  serverUrl,
  spawnCli,
  TASK_AUDIT_SQL,
  watch,
  workerIdOf,
  type RetryingClient,
} from '../helpers/reliability-processes.js';
import { RELIABILITY_TASKS } from '../helpers/reliability-tasks.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';

// The soak (`npm run soak`): SOAK_TASKS tasks (default 100,000) through GraphQL, mixing
// success, failure with retries, timeouts, cancellations and progress, run by 2 worker
// processes while 200 subscribers watch every task to its end. Then everything is reconciled.
const TOTAL = Number(process.env.SOAK_TASKS ?? 100_000);
const SUBSCRIBERS = Number(process.env.SOAK_SUBSCRIBERS ?? 200);
const ENQUEUERS = 16;
const CANCEL_AFTER_MS = 150;

/** What each kind of task is, and how it must end. One in 20 tasks per slot. */
const MIX: { name: string; args: unknown[]; share: number; status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED'; attempts: number }[] = [
  { name: 'soak.ok', args: [1], share: 10, status: 'SUCCEEDED', attempts: 1 },
  { name: 'soak.flaky', args: [], share: 2, status: 'SUCCEEDED', attempts: 3 },
  { name: 'soak.fail', args: [], share: 2, status: 'FAILED', attempts: 2 },
  { name: 'soak.timeout', args: [], share: 1, status: 'FAILED', attempts: 1 },
  { name: 'soak.cancel', args: [], share: 2, status: 'CANCELLED', attempts: -1 },
  { name: 'soak.progress', args: [5], share: 3, status: 'SUCCEEDED', attempts: 1 },
];
const SLOTS = MIX.flatMap((m) => Array.from({ length: m.share }, () => m));

const CANCEL = 'mutation ($id: ID!) { cancelTask(id: $id) { id status } }';

let database: TestDatabase;
const processes: TaskwireProcess[] = [];
const clients: RetryingClient[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.sql.unsafe(TASK_AUDIT_SQL);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.client.dispose()));
  await Promise.all(processes.map((p) => killHard(p)));
  await database?.drop();
});

describe('soak', () => {
  it(`${TOTAL} tasks through GraphQL, 2 worker processes, ${SUBSCRIBERS} live subscribers: every task ends as expected, every subscriber sees it`, async () => {
    const env = { DATABASE_URL: database.url, TASK_MODULES: RELIABILITY_TASKS, LOG_LEVEL: 'warn', LEASE_MS: '10000', HEARTBEAT_MS: '2000' };
    const server = spawnCli('serve', { ...env, LOG_LEVEL: 'info', PORT: '0', DB_POOL_SIZE: '10', MAINTENANCE_INTERVAL_MS: '2000' });
    const workers = [1, 2].map(() => spawnCli('worker', { ...env, LOG_LEVEL: 'info', WORKER_CONCURRENCY: '50', DB_POOL_SIZE: '8' }));
    processes.push(server, ...workers);
    const url = await serverUrl(server);
    await Promise.all(workers.map((w) => workerIdOf(w)));
    const rssBefore = await rssMiB(server.child.pid!);
    const started = performance.now();

    // Enqueuers feed ids to the subscribers; cancellers cancel the soak.cancel ones a little later.
    const toWatch = createChannel<{ id: string; name: string }>();
    let enqueued = 0;
    const cancels: Promise<void>[] = [];
    let cancelConflicts = 0;
    const enqueuers = Array.from({ length: ENQUEUERS }, async () => {
      while (enqueued < TOTAL) {
        const i = enqueued++;
        const kind = SLOTS[i % SLOTS.length]!;
        const res = await gql<{ enqueueTask: { task: { id: string } } }>(url, ENQUEUE, { input: { name: kind.name, args: kind.args } });
        const id = res.data?.enqueueTask.task.id;
        if (!id) throw new Error(`enqueue ${i} failed: ${JSON.stringify(res)}`);
        toWatch.put({ id, name: kind.name });
        if (kind.name === 'soak.cancel') {
          cancels.push(
            new Promise<void>((resolve) => setTimeout(resolve, CANCEL_AFTER_MS)).then(async () => {
              const c = await gql<{ cancelTask: { status: string } }>(url, CANCEL, { id });
              if (c.errors) cancelConflicts += 1;
            }),
          );
        }
      }
    });

    // Each subscriber watches one task at a time, to its end, then takes the next.
    const outcomes = new Map<string, string>();
    const missed: string[] = [];
    let watched = 0;
    const subscribers = Array.from({ length: SUBSCRIBERS }, async () => {
      const c = retryingClient(url.replace(/^http/, 'ws'), 5);
      clients.push(c);
      for (;;) {
        const next = await toWatch.take();
        if (!next) return;
        const w = watch<Change>(c.client, WATCH, { id: next.id });
        let timer: NodeJS.Timeout | undefined;
        const ended = await Promise.race([
          w.done.then(
            () => 'complete',
            (e: unknown) => `error ${String(e)}`,
          ),
          new Promise<string>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), 180_000);
          }),
        ]);
        clearTimeout(timer);
        watched += 1;
        const last = w.values.at(-1)?.taskStatusChanged.status;
        if (ended !== 'complete' || !last || !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(last)) missed.push(`${next.id} (${next.name}): ${ended}, last ${last}`);
        else outcomes.set(next.id, last);
      }
    });

    const progress = setInterval(() => {
      console.log(`[soak] ${Math.round((performance.now() - started) / 1000)} s: enqueued ${Math.min(enqueued, TOTAL)}, watched to the end ${watched}, missed ${missed.length}`);
    }, 15_000);
    try {
      await Promise.all(enqueuers);
      const enqueueMs = performance.now() - started;
      toWatch.close();
      await Promise.all(cancels);
      await Promise.all(subscribers);
      const [{ n: open } = { n: 0 }] = await database.db.sql`SELECT count(*)::int AS n FROM tasks WHERE status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`;
      expect(open).toBe(0);
      const totalMs = performance.now() - started;

      // Reconcile: counts per kind and status, attempts, errors, progress, and what subscribers saw.
      const rows = await database.db.sql`
        SELECT name, status, min(attempts)::int AS min_attempts, max(attempts)::int AS max_attempts, count(*)::int AS n,
          count(*) FILTER (WHERE progress->>'current' = '5')::int AS with_progress,
          count(*) FILTER (WHERE errors @> '[{"exceptionType":"TimeoutError"}]')::int AS timed_out,
          count(*) FILTER (WHERE jsonb_array_length(errors) = attempts)::int AS one_error_per_attempt
        FROM tasks GROUP BY name, status ORDER BY name, status`;
      const perKind = new Map<string, number>();
      for (let i = 0; i < TOTAL; i++) {
        const kind = SLOTS[i % SLOTS.length]!;
        perKind.set(kind.name, (perKind.get(kind.name) ?? 0) + 1);
      }
      for (const kind of MIX) {
        const mine = rows.filter((r) => r.name === kind.name);
        const count = perKind.get(kind.name) ?? 0;
        expect(mine.map((r) => r.status), kind.name).toEqual(count > 0 ? [kind.status] : []);
        if (count === 0) continue;
        expect(mine[0]?.n, kind.name).toBe(count);
        if (kind.attempts > 0) expect([mine[0]?.minAttempts, mine[0]?.maxAttempts], kind.name).toEqual([kind.attempts, kind.attempts]);
        if (kind.name === 'soak.progress') expect(mine[0]?.withProgress).toBe(count);
        if (kind.name === 'soak.timeout') expect(mine[0]?.timedOut).toBe(count);
        if (kind.status === 'FAILED') expect(mine[0]?.oneErrorPerAttempt, kind.name).toBe(count);
      }
      expect(missed).toEqual([]);
      expect(cancelConflicts).toBe(0);
      expect(outcomes.size).toBe(TOTAL);
      const final = new Map((await database.db.sql`SELECT id, status FROM tasks`).map((r) => [String(r.id), String(r.status)]));
      const disagree = [...outcomes].filter(([id, status]) => final.get(id) !== status).length;
      expect(disagree).toBe(0);
      expect(await auditViolations(database.db.sql)).toEqual({ twiceSucceeded: 0, changedAfterFinish: 0, versionJumps: 0 });
      expect([server, ...workers].every(alive)).toBe(true);
      const rssAfter = await rssMiB(server.child.pid!);
      const byStatus = await database.db.sql`SELECT status, count(*)::int AS n FROM tasks GROUP BY status ORDER BY status`;
      console.log(
        `[soak] ${TOTAL} tasks: enqueued over GraphQL in ${Math.round(enqueueMs / 1000)} s (${Math.round(TOTAL / (enqueueMs / 1000))}/s), ` +
          `all finished and watched in ${Math.round(totalMs / 1000)} s (${Math.round(TOTAL / (totalMs / 1000))} tasks/s end to end); ` +
          `final: ${byStatus.map((r) => `${r.status} ${r.n}`).join(', ')}; ${SUBSCRIBERS} subscribers saw ${outcomes.size} terminal states, ` +
          `missed ${missed.length}, disagreeing with the table ${disagree}; cancels refused ${cancelConflicts}; ` +
          `server RSS ${rssBefore} MiB before, ${rssAfter} MiB after; worker RSS ${(await Promise.all(workers.map((w) => rssMiB(w.child.pid!)))).join(' / ')} MiB`,
      );
      expect(rssAfter).toBeLessThan(Math.max(1024, rssBefore * 4));
    } finally {
      clearInterval(progress);
    }
    const codes = await Promise.all([server, ...workers].map((p) => p.stop(30_000)));
    expect(codes).toEqual([0, 0, 0]);
  });
});

/** A queue the enqueuers fill and the subscribers drain; take() waits, and ends after close(). */
function createChannel<T>(): { put(item: T): void; take(): Promise<T | undefined>; close(): void } {
  const items: T[] = [];
  const takers: ((item: T | undefined) => void)[] = [];
  let closed = false;
  return {
    put(item) {
      const taker = takers.shift();
      if (taker) taker(item);
      else items.push(item);
    },
    take() {
      if (items.length > 0) return Promise.resolve(items.shift());
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve) => takers.push(resolve));
    },
    close() {
      closed = true;
      for (const taker of takers.splice(0)) taker(undefined);
    },
  };
}
