// @ts-check
/**
 * The shown page of tasks and how a live change lands on it. No DOM here.
 *
 * The dashboard subscribes to every change (one stream, unfiltered, which also tells it when
 * to refresh the queue counts) and applies the filter itself, with the server's own rule
 * (src/queue/task-filter-match.js, served at /queue/task-filter-match.js, which is where this
 * import points from /dashboard/live.js; in Node it is the file itself):
 * - a task already on the page is updated in place, if the change is newer (version);
 * - on the first page, a task that matches the filter and is newer than the page's oldest
 *   row (ids are UUID v7: their order is enqueue order) is inserted where it belongs, so new
 *   tasks appear at the top; the "older" cursor stays valid (it points past the last row
 *   that was read, and inserted rows are all newer);
 * - a row that stops matching (a status filter) leaves the page at the next drawing, unless the
 *   rows are held (the pointer over them, or the keyboard's focus in them: app.js), where it stays,
 *   showing its new state: rows do not vanish under the user's pointer. The count follows each row
 *   that leaves or joins the filter.
 */

import { matchesFilter } from '../queue/task-filter-match.js';

/** Rows the first page may grow to by insertions before it is read again. */
export const MAX_ROWS = 100;

/** Does `task` satisfy the filter (`{status: string[], queue, name}`; empty means any)? */
export function matches(task, filter) {
  return matchesFilter(task, toTaskFilter(filter));
}

/** The filter as the `tasks` query takes it. */
export function toTaskFilter(filter) {
  const out = {};
  if (filter.status.length > 0) out.status = filter.status;
  if (filter.queue) out.queue = filter.queue;
  if (filter.name) out.name = filter.name;
  return out;
}

/**
 * A page: `rows` newest first, `first` (the live top of the list), the connection's
 * `pageInfo` and `totalCount`, and how it was read (`mode`, `cursor`) to read it again.
 */
export function createPage(mode = 'first', cursor = null) {
  return { mode, cursor, first: mode === 'first', rows: [], pageInfo: null, totalCount: null, countChanges: 0 };
}

/**
 * Applies a task state to the page. Returns 'updated' (a row changed), 'left' (a row changed and
 * no longer matches the filter), 'inserted' (the row set changed), 'overflow' (the first page grew
 * past MAX_ROWS: read it again) or null.
 */
export function applyChange(page, task, filter) {
  const i = page.rows.findIndex((row) => row.id === task.id);
  if (i >= 0) {
    const old = page.rows[i];
    if (task.version <= old.version) return null;
    // A change that does not say why the task waits: the reason read with the list no longer holds
    // (a step released from BLOCKED went on saying "blocked" while its queue was paused).
    const next = { ...old, waitReason: null, ...task };
    page.rows[i] = next;
    const was = matches(old, filter);
    const is = matches(next, filter);
    if (page.totalCount !== null && was !== is) {
      page.totalCount += is ? 1 : -1;
      page.countChanges += 1;
    }
    return was && !is ? 'left' : 'updated';
  }
  if (!page.first || !matches(task, filter)) return null;
  const oldest = page.rows[page.rows.length - 1];
  // When the page holds every match there is no older page: anything matching belongs here.
  if (oldest && page.pageInfo?.hasNextPage && task.id < oldest.id) return null;
  const at = page.rows.findIndex((row) => row.id < task.id);
  page.rows.splice(at < 0 ? page.rows.length : at, 0, task);
  // It did not match when the page was read (it would be on it): one more match now.
  if (page.totalCount !== null) {
    page.totalCount += 1;
    page.countChanges += 1;
  }
  return page.rows.length > MAX_ROWS ? 'overflow' : 'inserted';
}

/** Takes the rows that no longer match the filter off the page (they stayed while the rows were held). */
export function dropUnmatched(page, filter) {
  const kept = page.rows.filter((row) => matches(row, filter));
  const dropped = page.rows.length - kept.length;
  page.rows = kept;
  return dropped;
}
