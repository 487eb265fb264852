import type { Executor } from '../../db/client.js';
import { changeTailSql, WORKER_OF_ATTEMPT } from '../events.js';
import { toTask, type Task } from '../task.js';

export interface ProgressParams {
  id: string;
  /** The attempt reporting (a stale attempt's progress is dropped). */
  attempt: number;
  workerId: string;
  current: number | null;
  total: number | null;
  message: string | null;
}

const TAIL = changeTailSql({ type: `'PROGRESS'`, worker: WORKER_OF_ATTEMPT, progress: 'progress' });

/** Stores a running task's progress (a visible change: version + 1 and an event). */
export async function updateProgress(exec: Executor, p: ProgressParams): Promise<Task | undefined> {
  const result = await exec`
    WITH changed AS (
      UPDATE tasks SET
        progress = jsonb_build_object(
          'current', ${p.current}::float8, 'total', ${p.total}::float8,
          'message', ${p.message}::text, 'updatedAt', clock_timestamp()),
        version = version + 1,
        last_event_tx = greatest(last_event_tx, pg_current_xact_id())
      WHERE id = ${p.id} AND status = 'RUNNING' AND locked_by = ${p.workerId} AND attempts = ${p.attempt}
      RETURNING *
    ),
    ${exec.unsafe(TAIL)}`;
  const row = result[0];
  return row ? toTask(row) : undefined;
}
