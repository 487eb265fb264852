// @ts-check
/**
 * The rule of a task filter, written once and run in three places: the `tasks(filter:)` query
 * (task-filter.ts turns the same conditions into SQL), a filter subscription on the server
 * (src/server/live/task-subscribers.ts) and the dashboard's live list in the browser (src/dashboard/live.js,
 * which loads this very file: the server serves it at /queue/task-filter-match.js).
 *
 * Why plain JavaScript: the dashboard has no build step, and a browser cannot run TypeScript,
 * so the one copy both sides run must be JavaScript (types: task-filter-match.d.ts). It
 * imports nothing, touches no DOM and no Node API.
 *
 * A filter holds conditions that must all hold; a condition left out (undefined) holds for
 * every task, and so does an empty status list. Times are Dates on the server and ISO strings
 * in the browser: both are accepted.
 */

/**
 * Could a task in `status` match `filter`? (The server decides from the notification alone
 * whether a change is worth reading.)
 * @param {{ status?: readonly string[] }} filter
 * @param {string} status
 * @returns {boolean}
 */
export function statusMayMatch(filter, status) {
  return !filter.status || filter.status.length === 0 || filter.status.includes(status);
}

/**
 * Does `task` satisfy every condition of `filter`? The same conditions, with the same strict
 * comparisons, as the SQL of taskFilterSql.
 * @param {{ status: string, name: string, queue: string, tenant?: string, workflowId?: string | null, enqueuedAt: Date | string }} task
 * @param {{ status?: readonly string[], name?: string, queue?: string, tenant?: string, workflowId?: string, enqueuedAfter?: Date | string, enqueuedBefore?: Date | string }} filter
 * @returns {boolean}
 */
export function matchesFilter(task, filter) {
  if (!statusMayMatch(filter, task.status)) return false;
  if (filter.name !== undefined && task.name !== filter.name) return false;
  if (filter.queue !== undefined && task.queue !== filter.queue) return false;
  // A task without a tenant (a browser's row from an API that does not show it) matches no tenant condition.
  if (filter.tenant !== undefined && task.tenant !== filter.tenant) return false;
  // Ids compared in lower case, as PostgreSQL compares uuids (the GraphQL id may come in upper case).
  if (filter.workflowId !== undefined && (task.workflowId ?? '').toLowerCase() !== filter.workflowId.toLowerCase()) return false;
  if (filter.enqueuedAfter !== undefined && !(time(task.enqueuedAt) > time(filter.enqueuedAfter))) return false;
  if (filter.enqueuedBefore !== undefined && !(time(task.enqueuedAt) < time(filter.enqueuedBefore))) return false;
  return true;
}

/**
 * @param {Date | string} value
 * @returns {number}
 */
function time(value) {
  return value instanceof Date ? value.getTime() : Date.parse(value);
}
