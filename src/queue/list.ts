import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../db/client.js';
import { refusedCursor } from './cursor-kinds.js';
import { pageSizeOf } from './page-size.js';
import { toTask, type Task } from './task.js';
import { normalizeTaskFilter, sqlAnd, taskFilterSql, type TaskFilter } from './task-filter.js';
import { isUuid } from './uuid.js';

export type { TaskFilter } from './task-filter.js';

export interface ListParams {
  first?: number;
  /** A page's endCursor: the tasks after it. Null (an empty page's cursor) or left out: from the newest. */
  after?: string | null;
  last?: number;
  /** A page's startCursor: the tasks before it. Null or left out: up to the oldest. */
  before?: string | null;
  filter?: TaskFilter;
}

export interface TaskPage {
  tasks: Task[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  /** The first task's cursor (`before` of the page before this one); null on an empty page. */
  startCursor: string | null;
  /** The last task's cursor (`after` of the next page); null on an empty page. */
  endCursor: string | null;
  /** Counting is the expensive part of a page, so it runs only when asked for. */
  totalCount(): Promise<number>;
}

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** An opaque cursor: the task id, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(`task:${id}`).toString('base64url');
}

/** A page's cursors, from its first and last task. */
export function pageCursors(tasks: readonly Task[]): Pick<TaskPage, 'startCursor' | 'endCursor'> {
  const first = tasks[0];
  const last = tasks.at(-1);
  return { startCursor: first ? encodeCursor(first.id) : null, endCursor: last ? encodeCursor(last.id) : null };
}

export function decodeCursor(cursor: string, field: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith('task:') ? text.slice(5) : '';
  if (!isUuid(id)) throw refusedCursor(field, text, 'task');
  return id;
}

/**
 * A page of tasks, newest first, by keyset on the id (uuid v7, so id order is enqueue
 * order): `id < cursor` forward, `id > cursor` backward. No OFFSET, so a page costs the
 * same at any depth and does not shift when tasks are inserted meanwhile. Unfiltered and
 * filtered walks use the primary key or the index of one condition (taskFilterSql names them).
 * With `tenant` (a scoped queue) only that tenant's tasks are listed and counted, whatever
 * the filter says (a filter naming another tenant finds nothing).
 */
export async function listTasks(exec: Executor, params: ListParams, tenant: string | null = null): Promise<TaskPage> {
  const { size, backward } = pageSizeOf(params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const after = params.after !== undefined && params.after !== null ? decodeCursor(params.after, 'after') : undefined;
  const before = params.before !== undefined && params.before !== null ? decodeCursor(params.before, 'before') : undefined;
  const filter = normalizeTaskFilter(params.filter);
  // Said once when the filter already names the tenant; twice (and so nothing) when it names another.
  const where = sqlAnd(exec, [taskFilterSql(exec, filter), tenant !== null && filter.tenant !== tenant ? exec`tenant = ${tenant}` : undefined]);

  // Both cursors bound the window; the direction decides which end the page is taken from.
  const bounds = [after ? exec`id < ${after}` : undefined, before ? exec`id > ${before}` : undefined];
  const rows = await exec`
    SELECT * FROM tasks WHERE ${sqlAnd(exec, [where, ...bounds])}
    ORDER BY id ${backward ? exec`ASC` : exec`DESC`}
    LIMIT ${size + 1}`;
  const more = rows.length > size;
  const tasks = rows.slice(0, size).map((row) => toTask(row));
  if (backward) tasks.reverse();

  // The far side of a cursor: is there anything there (within the filter)? Walked in id order
  // away from the cursor and stopped at the first row, so it reads the rows next to the
  // cursor (the same index as the page) whatever plan is chosen, rather than whatever an
  // EXISTS over the whole far side happens to scan.
  const beyond = async (cond: PendingQuery<Row[]> | undefined, order: 'ASC' | 'DESC'): Promise<boolean> => {
    if (!cond) return false;
    const rows = await exec`
      SELECT 1 FROM tasks WHERE ${sqlAnd(exec, [where, cond])}
      ORDER BY id ${order === 'ASC' ? exec`ASC` : exec`DESC`} LIMIT 1`;
    return rows.length > 0;
  };
  const hasNextPage = backward ? await beyond(before ? exec`id <= ${before}` : undefined, 'DESC') : more;
  const hasPreviousPage = backward ? more : await beyond(after ? exec`id >= ${after}` : undefined, 'ASC');
  return {
    tasks,
    hasNextPage,
    hasPreviousPage,
    ...pageCursors(tasks),
    totalCount: async () => {
      const [row] = await exec`SELECT count(*) AS count FROM tasks WHERE ${where}`;
      return Number(row?.count ?? 0);
    },
  };
}

