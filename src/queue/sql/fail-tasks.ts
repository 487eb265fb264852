import type { Executor } from '../../db/client.js';
import type { TaskStatus } from '../../states.js';
import { statusesOf, workflowIdsOf } from './worker-batches.js';

export interface Failure {
  id: string;
  /** The attempt that failed (the task's `attempts` when claimed). */
  attempt: number;
  /** The attempt's error, encoded: {exceptionType, message, traceback, attempt, at, workerId}, storable JSON text. */
  error: string;
  /** Retry after this many ms if attempts are left; null: do not retry whatever is left. */
  retryDelayMs: number | null;
  /** The task's workflow (null: a plain task), as its claim read it; see Completion.workflowId. */
  workflowId?: string | null;
}

/** What a recorded failure left the task: waiting to run again, failed for good, or cancelled (its cancellation was asked). */
export type FailedStatus = Extract<TaskStatus, 'RETRYING' | 'FAILED' | 'CANCELLED'>;

/**
 * Records failed attempts of one worker, a batch in one statement: RETRYING (run again after the
 * failure's delay) while attempts are left, else FAILED. Guarded by status, lock and attempt like
 * completeTasks: a failure of an attempt the rescuer took back is dropped. A task whose
 * cancellation was requested ends CANCELLED instead (the error kept), whatever attempts are left:
 * the attempt may have failed (or timed out) before the worker heard of the cancellation, and
 * retrying it would run a task its owner cancelled. The rescuer does the same.
 * Returns the status each recorded task was left in, by id.
 */
export async function failTasks(
  exec: Executor,
  workerId: string,
  failures: readonly Failure[],
  defaultTtlMs: number,
): Promise<Map<string, FailedStatus>> {
  if (failures.length === 0) return new Map();
  // As completeTasks: one jsonb object keyed by `id:attempt`, the errors spliced in as the JSON
  // text they are. A delay is a number or null (no retry); a non-finite one would not be JSON.
  const byAttempt = `{${failures.map((f) => `"${f.id}:${f.attempt}":[${f.error},${delayJson(f.retryDelayMs)}]`).join(',')}}`;
  const ids = `{${failures.map((f) => f.id).join(',')}}`;
  const workflowIds = workflowIdsOf(failures);
  // taskwire_fail (drizzle/0036_fail_function.sql): the UPDATE by tasks_pkey after the steps'
  // workflows are locked (./workflow-locks.ts), its events and notifications, with a cached plan.
  const result = await exec`
    SELECT recorded FROM taskwire_fail(${workerId}::text, ${ids}::uuid[], ${byAttempt}::jsonb, ${defaultTtlMs}::bigint, ${workflowIds}::uuid[])`;
  return statusesOf<FailedStatus>(result[0]?.recorded as string | null | undefined);
}

function delayJson(ms: number | null): string {
  return ms === null ? 'null' : String(Number.isFinite(ms) ? Math.max(0, ms) : 0);
}
