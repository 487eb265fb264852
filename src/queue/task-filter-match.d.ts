// Types of task-filter-match.js (plain JavaScript: the dashboard loads it without a build step).

/** What the rule reads of a task: the server's Task, or the dashboard's (ISO string dates). */
export interface FilterableTask {
  status: string;
  name: string;
  queue: string;
  /** The server's tasks always have one; the dashboard's may not (it never filters by tenant). */
  tenant?: string;
  /** The workflow it is a step of (null or absent: none). */
  workflowId?: string | null;
  enqueuedAt: Date | string;
}

/** The conditions of a filter; see TaskFilter (task-filter.ts) for their meaning. */
export interface FilterConditions {
  status?: readonly string[];
  name?: string;
  queue?: string;
  tenant?: string;
  workflowId?: string;
  enqueuedAfter?: Date | string;
  enqueuedBefore?: Date | string;
}

/** Could a task in `status` match `filter`? */
export function statusMayMatch(filter: Pick<FilterConditions, 'status'>, status: string): boolean;

/** Does `task` satisfy every condition of `filter`? */
export function matchesFilter(task: FilterableTask, filter: FilterConditions): boolean;
