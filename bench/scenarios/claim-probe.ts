import type { Sql } from '../../src/db/client.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { RUNNER_DEFAULTS } from '../../src/worker/runner-options.js';
import { autoExplain, type PlanNode } from '../lib/auto-explain.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { percentiles } from '../lib/stats.js';
import { range } from '../lib/wait.js';
import { createTaskwireSystem } from '../systems/taskwire.js';

/** An idle worker's claim (its free slots) and a draining worker's (claimed ahead; not a target). */
const BATCH = RUNNER_DEFAULTS.concurrency;
const BIG_BATCH = 500;
const WARM_UP = 5;
const WORKER_ID = 'bench-claim-probe';

type Reserved = Awaited<ReturnType<Sql['reserve']>>;

/**
 * One claim through the worker's own path (`claimTasks`, as the claim loop calls it: every
 * queue, nothing held) in a transaction that is rolled back, so the backlog stays as it was.
 * Times the claim statement alone (round trip included), not BEGIN/ROLLBACK: a real claim
 * also pays a durable commit, the same for every plan.
 */
async function claimOnce(c: Reserved, limit: number): Promise<number> {
  await c`BEGIN`;
  try {
    const t0 = performance.now();
    const tasks = await claimTasks(c, { workerId: WORKER_ID, limit, queues: [], leaseMs: RUNNER_DEFAULTS.leaseMs });
    const ms = performance.now() - t0;
    if (tasks.length !== limit) throw new Error(`a claim of ${limit} took ${tasks.length} tasks`);
    return ms;
  } finally {
    await c`ROLLBACK`;
  }
}

function label(n: PlanNode): string {
  return `${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`;
}

/** Visits `n` and its descendants, outermost first; `mainOnly` leaves out InitPlans and SubPlans (e.g. the held queues). */
function walk(n: PlanNode, visit: (n: PlanNode) => void, mainOnly = false): void {
  visit(n);
  for (const child of n.Plans ?? []) {
    if (mainOnly && /Plan$/.test(child['Parent Relationship'] ?? '')) continue;
    walk(child, visit, mainOnly);
  }
}

/**
 * The plan of one more claim (rolled back, not timed), as auto_explain logs it with ANALYZE on
 * (bench/lib/auto-explain.ts), nested statements included (the pick may run in a SQL function, planned on its own): the selection's nodes
 * (the `next` CTE, outermost first, InitPlans left out) or, without such a CTE, every node that reads
 * `tasks`; each nested statement's main nodes and time; the statement's execution time on the server.
 */
async function claimPlan(url: string, limit: number): Promise<string> {
  const claim = (c: Reserved) => claimTasks(c, { workerId: WORKER_ID, limit, queues: [], leaseMs: RUNNER_DEFAULTS.leaseMs });
  const plans = await autoExplain(url, claim, {
    analyze: true,
    // A session's first claim plans taskwire_claim's body (~20 ms, cold catalog): log a later one,
    // as the worker runs it. Undone before the logged claim, which finds the backlog as it was.
    before: async (c) => {
      await c`SAVEPOINT warm`;
      await claim(c);
      await c`ROLLBACK TO SAVEPOINT warm`;
    },
  });
  // Nested statements finish, and are logged, before the statement that ran them.
  const top = plans.pop();
  if (!top) return 'no plan logged (auto_explain unavailable?)';
  // The pick is a CTE of the caller's statement, or of a nested one (taskwire_claim's body).
  let next: PlanNode | undefined;
  for (const p of [top, ...plans]) {
    walk(p.plan, (n) => {
      if (n['Subplan Name'] === 'CTE next') next ??= n;
    });
  }
  const nodes: string[] = [];
  if (next) walk(next, (n) => nodes.push(label(n)), true);
  else walk(top.plan, (n) => (n['Relation Name'] === 'tasks' || /Sort/.test(n['Node Type']) ? nodes.push(label(n)) : undefined));
  const selection = next?.['Actual Total Time'];
  const parts = [`${next ? 'CTE next' : 'nodes on tasks'}: ${nodes.join(' ← ')}${selection !== undefined ? ` (${selection.toFixed(3)} ms)` : ''}`];
  for (const nested of plans) {
    const chain: string[] = [];
    walk(nested.plan, (n) => chain.push(label(n)), true);
    parts.push(`nested statement: ${chain.join(' ← ')} (${nested.ms ?? '?'} ms)`);
  }
  parts.push(`whole statement ${top.ms ?? '?'} ms (server, EXPLAIN ANALYZE)`);
  return parts.join('; ');
}

/** Rows of planner statistics on `tasks` and its row estimate (-1: never vacuumed or analyzed). */
async function statistics(sql: Sql): Promise<{ stats: number; reltuples: number }> {
  const [row] = await sql`
    SELECT (SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'tasks')::int AS stats,
           (SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass)::float8 AS reltuples`;
  return { stats: Number(row?.stats), reltuples: Number(row?.reltuples) };
}

/**
 * (n) claim probe, taskwire only: a fresh database, `claimProbePending` no-op tasks bulk-enqueued
 * (autovacuum off for `tasks`, so the table is never analyzed; checked before and after); then per
 * repetition `claimProbeClaims` claims of 10 through the worker's claim path, each rolled back, p50/p99
 * (after a few warm-up claims), the same for claims of 500 (what a draining worker claims ahead), and
 * once the plan of the claim of 10.
 */
export async function claimProbeScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const pending = job.sizes.claimProbePending;
  const db = await freshDatabase(job.adminUrl, job.template);
  try {
    const system = await createTaskwireSystem(db.url);
    try {
      const sql = system.deps.db.sql;
      await sql`ALTER TABLE tasks SET (autovacuum_enabled = off)`;
      const added = await system.enqueueMany(range(0, pending));
      if (added !== pending) throw new Error(`bulk enqueue added ${added} of ${pending}`);
      const before = await statistics(sql);
      if (before.stats > 0) throw new Error(`tasks has planner statistics (${before.stats} pg_stats rows) before the claims: the probe needs none`);
      rec.notes.push(`claim-probe: ${pending.toLocaleString('en-US')} pending tasks, never analyzed (pg_stats rows 0, reltuples ${before.reltuples}); claims rolled back`);
      rec.notes.push(`claim-probe: plan of a claim of ${BATCH}: ${await claimPlan(db.url, BATCH)}`);
      const c = await sql.reserve();
      try {
        for (let rep = 1; rep <= job.repeat; rep++) {
          for (const [limit, p50, p99] of [[BATCH, M.claimP50, M.claimP99], [BIG_BATCH, `claim of ${BIG_BATCH} at the backlog, no statistics p50`, `claim of ${BIG_BATCH} at the backlog, no statistics p99`]] as const) {
            const ms: number[] = [];
            for (let i = 0; i < WARM_UP + job.sizes.claimProbeClaims; i++) {
              const elapsed = await claimOnce(c, limit);
              if (i >= WARM_UP) ms.push(elapsed);
            }
            const p = percentiles(ms);
            rec.add(p50, 'ms', p.p50);
            rec.add(p99, 'ms', p.p99);
          }
        }
      } finally {
        c.release();
      }
      const after = await statistics(sql);
      const [left] = await sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'PENDING'`;
      if (after.stats > 0) throw new Error('tasks gained planner statistics during the claims');
      if (Number(left?.n) !== pending) throw new Error(`${Number(left?.n)} tasks pending after the claims, not ${pending}`);
    } finally {
      await system.close();
    }
  } finally {
    await db.drop();
  }
}
