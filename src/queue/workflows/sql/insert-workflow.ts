import type { Executor } from '../../../db/client.js';
import { eventCtesSql, JOBS_CHANNEL, notificationCountSql } from '../../events.js';
import type { PreparedStep, PreparedWorkflow } from '../validate.js';
import { WORKFLOWS_CHANNEL } from '../channel.js';

/**
 * Stores a workflow and all its steps in one statement (one round trip however many steps),
 * or nothing: the workflow row, then every step's task row (each step its parents and
 * children; a step with parents BLOCKED with `waiting_parents` = their count, a root PENDING),
 * an ENQUEUED event per step, the wake-ups of the roots' queues and the workflow's NOTIFY.
 * With an idempotency key already used in the tenant (workflows_idempotency_key_idx, whose
 * predicate the conflict target repeats), nothing is inserted and `created` is false.
 */
const EVENT_CTES = eventCtesSql({ type: `'ENQUEUED'` });
const NOTIFICATION_COUNT = notificationCountSql(['woken', 'announced']);

export async function insertWorkflow(exec: Executor, wf: PreparedWorkflow): Promise<{ created: boolean; createdAt: Date }> {
  let input = '[';
  for (let i = 0; i < wf.steps.length; i++) input += (i === 0 ? '' : ',') + encodeStep(wf.steps[i] as PreparedStep);
  input += ']';
  const [row] = await exec`
    WITH wf AS (
      INSERT INTO workflows (id, tenant, name, idempotency_key, created_by, steps_total)
      VALUES (${wf.id}, ${wf.tenant}, ${wf.name}, ${wf.idempotencyKey}, ${wf.createdBy}, ${wf.steps.length})
      ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, version, status, created_at
    ),
    input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(
        i uuid, n text, q text, p smallint, a jsonb, k jsonb, m int, r timestamptz, t int, l bigint, b jsonb,
        cb text, ck text, sr text, dp uuid[], dn uuid[], po dependency_failure_policy)
    ),
    changed AS (
      INSERT INTO tasks (id, name, queue, priority, args, kwargs, max_attempts, run_after, timeout_ms, result_ttl_ms, backoff,
                         tenant, created_by, concurrency_key, workflow_id, step_ref, depends_on, dependents, waiting_parents,
                         on_dependency_failure, status)
      SELECT i, n, q, p, a, k, m, coalesce(r, now()), t, l, b, ${wf.tenant}, cb, ck, wf.id, sr, coalesce(dp, '{}'), coalesce(dn, '{}'),
             cardinality(coalesce(dp, '{}')), po,
             (CASE WHEN cardinality(coalesce(dp, '{}')) > 0 THEN 'BLOCKED' ELSE 'PENDING' END)::task_status
      FROM input CROSS JOIN wf
      RETURNING id, queue, version, status, attempts, last_event_tx
    ),
    woken AS (
      SELECT pg_notify(${JOBS_CHANNEL}, queue) FROM (SELECT DISTINCT queue FROM changed WHERE status = 'PENDING') q
    ),
    announced AS (
      SELECT pg_notify(${WORKFLOWS_CHANNEL}, id::text || ':' || version || ':' || status) FROM wf
    ),
    ${exec.unsafe(EVENT_CTES)}
    SELECT (SELECT count(*) FROM wf)::int AS created, (SELECT created_at FROM wf) AS "createdAt", (SELECT count(*) FROM changed)::int AS inserted,
           ${exec.unsafe(NOTIFICATION_COUNT)} AS notifications`;
  const created = Number(row?.created ?? 0) === 1;
  if (created && Number(row?.inserted) !== wf.steps.length) {
    throw new Error(`insertWorkflow: ${row?.inserted} steps inserted, expected ${wf.steps.length}`);
  }
  const at = row?.createdAt as Date | string | null | undefined;
  return { created, createdAt: at ? new Date(at) : new Date() };
}

const json = JSON.stringify;

/** One step as a row of the jsonb input (short keys, null fields left out), as insertTasks encodes tasks. */
function encodeStep(step: PreparedStep): string {
  const r = step.row;
  let s = `{"i":"${r.id}","n":${json(r.name)},"q":${json(r.queue)},"p":${r.priority},"a":${r.args},"k":${r.kwargs},"m":${r.maxAttempts}`;
  if (r.runAfter !== null) s += `,"r":"${r.runAfter}"`;
  if (r.timeoutMs !== null) s += `,"t":${r.timeoutMs}`;
  if (r.resultTtlMs !== null) s += `,"l":${r.resultTtlMs}`;
  if (r.backoff !== null) s += `,"b":${json(r.backoff)}`;
  if (r.createdBy !== null) s += `,"cb":${json(r.createdBy)}`;
  if (r.concurrencyKey !== null) s += `,"ck":${json(r.concurrencyKey)}`;
  s += `,"sr":${json(step.ref)},"po":"${step.policy}"`;
  if (step.dependsOn.length > 0) s += `,"dp":${json(step.dependsOn)}`;
  if (step.dependents.length > 0) s += `,"dn":${json(step.dependents)}`;
  return `${s}}`;
}
