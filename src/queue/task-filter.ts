/**
 * Task filters, one home: the TaskFilter type, its checks, the in-process match and the SQL.
 * `tasks(filter:)` pages through the rows taskFilterSql selects; a filter subscription and the
 * dashboard's live list keep the tasks matchesFilter accepts. Both say the same thing: every
 * given condition holds (status any of the list, name, queue, tenant and workflowId equal, enqueuedAt
 * strictly after / before); a test runs one rule against the other (test/queue/list.test.ts).
 * `tenant` is for the core and the server (a scoped queue or hub adds it); the GraphQL
 * TaskFilter input does not offer it: a caller's tenant comes from its credential.
 *
 * The match itself is task-filter-match.js, plain JavaScript, because the dashboard runs it too
 * and is served without a build step: the browser loads that same file (served at
 * /queue/task-filter-match.js) rather than a copy, and rather than a second, filtered stream
 * from the server — the dashboard's one unfiltered stream also updates rows that stop matching
 * and refreshes the queue counts, which a filtered stream would not carry.
 */
import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../db/client.js';
import { BadUserInputError } from '../errors.js';
import { requireStorableDate } from './dates.js';
import { isStorableText } from './json.js';
import { isTaskStatus, type TaskStatus } from './states.js';
import { isUuid } from './uuid.js';
import type { Task } from './task.js';
import { matchesFilter as matchRule, statusMayMatch as statusRule } from './task-filter-match.js';

/** Which tasks: every condition given must hold; one left out holds for any task. */
export interface TaskFilter {
  /** Any of these statuses (empty: any status). */
  status?: readonly TaskStatus[];
  /** Exactly this task name. */
  name?: string;
  /** Exactly this queue. */
  queue?: string;
  /** Only this tenant's tasks. */
  tenant?: string;
  /** Only the steps of this workflow (a UUID). */
  workflowId?: string;
  /** Enqueued strictly after this time. */
  enqueuedAfter?: Date;
  /** Enqueued strictly before this time. */
  enqueuedBefore?: Date;
}

/** A filter as callers may hand it over: GraphQL's null means "not given", like undefined. */
export type TaskFilterInput = { [K in keyof TaskFilter]?: TaskFilter[K] | null };

/**
 * The filter with its "not given" conditions left out, checked.
 * Values PostgreSQL would refuse (a NUL in a text parameter, a date outside its range, a status
 * that is not one) are the caller's mistake, said so, rather than a failed statement.
 * @throws BadUserInputError naming the field, e.g. `filter.name`
 */
export function normalizeTaskFilter(input: TaskFilterInput | null | undefined): TaskFilter {
  const filter: { -readonly [K in keyof TaskFilter]: TaskFilter[K] } = {};
  if (!input) return filter;
  if (input.status != null) {
    if (!Array.isArray(input.status) || !input.status.every(isTaskStatus)) {
      throw new BadUserInputError('filter.status must be a list of task statuses', { field: 'filter.status' });
    }
    filter.status = input.status;
  }
  for (const key of ['name', 'queue', 'tenant'] as const) {
    const value = input[key];
    if (value == null) continue;
    if (typeof value !== 'string' || !isStorableText(value)) {
      throw new BadUserInputError(`filter.${key} must be text without a NUL character or a lone surrogate`, { field: `filter.${key}` });
    }
    filter[key] = value;
  }
  if (input.workflowId != null) {
    if (typeof input.workflowId !== 'string' || !isUuid(input.workflowId)) {
      throw new BadUserInputError('filter.workflowId must be a workflow id (a UUID)', { field: 'filter.workflowId' });
    }
    filter.workflowId = input.workflowId;
  }
  for (const key of ['enqueuedAfter', 'enqueuedBefore'] as const) {
    const value = input[key];
    if (value == null) continue;
    if (!(value instanceof Date)) throw new BadUserInputError(`filter.${key} must be a date`, { field: `filter.${key}` });
    requireStorableDate(value, `filter.${key}`);
    filter[key] = value;
  }
  return filter;
}

/** Does `task` satisfy every condition of `filter`? (The conditions taskFilterSql puts in SQL.) */
export function matchesFilter(task: Task, filter: TaskFilter): boolean {
  return matchRule(task, filter);
}

/** Could a task in `status` match `filter`, whatever its other fields? */
export function statusMayMatch(filter: TaskFilter, status: TaskStatus): boolean {
  return statusRule(filter, status);
}

/**
 * The filter as one SQL condition over `tasks` (`true` when it has none), for a WHERE.
 * Indexes: tasks_name_id_idx, tasks_queue_id_idx, tasks_workflow_idx and, for one status other than
 * SUCCEEDED, tasks_status_not_succeeded_idx (status, id) serve the equality conditions in id order;
 * tasks_tenant_not_default_idx (tenant, id) a tenant's tasks (a scoped queue's list without other filter).
 */
export function taskFilterSql(exec: Executor, filter: TaskFilter): PendingQuery<Row[]> {
  const parts: PendingQuery<Row[]>[] = [];
  // One status as `=`: `status = ANY('{FAILED}')` is not matched to the partial index's predicate
  // (status <> 'SUCCEEDED'), so a page of FAILED tasks walked the primary key past every newer task
  // (50 ms at a million tasks, more after a cursor deep in history; 0.4 ms by the index).
  const statuses = filter.status ?? [];
  if (statuses.length === 1) parts.push(exec`status = ${statuses[0] as TaskStatus}::task_status`);
  else if (statuses.length > 1) parts.push(exec`status = ANY(${statuses as TaskStatus[]}::task_status[])`);
  if (filter.name !== undefined) parts.push(exec`name = ${filter.name}`);
  if (filter.queue !== undefined) parts.push(exec`queue = ${filter.queue}`);
  if (filter.tenant !== undefined) parts.push(exec`tenant = ${filter.tenant}`);
  // tasks_workflow_idx (workflow_id, id) serves a workflow's steps in id order.
  if (filter.workflowId !== undefined) parts.push(exec`workflow_id = ${filter.workflowId}`);
  // At the millisecond, as every reader of enqueuedAt sees it (a Date; the column holds microseconds)
  // and as matchesFilter compares: a task of 09:42:53.808717 is not after 09:42:53.808Z, so that
  // passing a task's own enqueuedAt back asks for newer tasks, in a list, a bulk action and a live
  // stream alike. `>= T + 1 ms` says that and still compares the column itself; `< T` needs no
  // change (T is a whole millisecond).
  if (filter.enqueuedAfter !== undefined) parts.push(exec`enqueued_at >= ${new Date(filter.enqueuedAfter.getTime() + 1)}`);
  if (filter.enqueuedBefore !== undefined) parts.push(exec`enqueued_at < ${filter.enqueuedBefore}`);
  return sqlAnd(exec, parts);
}

/** `a AND b AND …`; `true` for none. */
export function sqlAnd(exec: Executor, parts: readonly (PendingQuery<Row[]> | undefined)[]): PendingQuery<Row[]> {
  const given = parts.filter((p): p is PendingQuery<Row[]> => p !== undefined);
  if (given.length === 0) return exec`true`;
  return given.slice(1).reduce((acc, part) => exec`${acc} AND ${part}`, given[0] as PendingQuery<Row[]>);
}
