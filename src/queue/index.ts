import type { Sql } from '../db/client.js';
import { transaction } from '../db/transaction.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { TaskCatalog } from './catalog.js';
import { enqueueTasks, goByStatements, hasKey, isTenantName, prepareTask, storeTasks, UNSCOPED, type EnqueueInput, type QueueScope } from './enqueue.js';
import { createEnqueueBatcher } from './enqueue-batcher.js';
import { feedEnd, readFeed, type FeedEnd, type FeedPage } from './event-feed.js';
import { listTaskEvents, readEventsAfter, type FeedPosition, type ListEventsParams, type LogWant, type TaskEventPage, type TaskEventRecord } from './event-log.js';
import { toExecutor, type ExternalExecutor } from './executor.js';
import { assertTaskId, getTask, getTasks } from './get.js';
import { listTasks, type ListParams, type TaskPage } from './list.js';
import { queueStats, type QueueStats } from './stats.js';
import { readClock } from './sql/clock.js';
import { waitForTask, type WaitForTaskOptions } from './wait-for-task.js';
import { requestCancel } from './sql/request-cancel.js';
import { promoteTask } from './sql/promote-task.js';
import { requeueTask } from './sql/requeue-task.js';
import { getWorkflowStatus } from './workflows/sql/get-workflows.js';
import type { Task } from './task.js';
import { isTerminal } from './states.js';
import { isStorableText } from './json.js';
import { createSchedules } from './schedules/schedules.js';
import { withScheduleLookup, type ScheduleLookup } from './schedule-lookup.js';
import type { Schedules } from './schedules/types.js';
import { createWorkflows } from './workflows/workflows.js';
import type { Workflows } from './workflows/types.js';
import { createBulkActions } from './bulk-actions/bulk-actions.js';
import type { BulkActions } from './bulk-actions/types.js';
import { createQueueControl, type QueueControl } from './queue-control/index.js';

export interface QueueOptions {
  sql: Sql;
  catalog: TaskCatalog;
  /** Retention of finished tasks without their own TTL, in ms. */
  resultTtlMs: number;
  /** Largest args + kwargs of a task, in bytes of JSON. */
  maxArgsBytes: number;
}

export interface EnqueueOptions {
  /** Enqueue inside this transaction: the task exists, and is announced, only if it commits. */
  tx?: ExternalExecutor;
  /**
   * Called when the input's idempotency key names a task stored before this call (a replay: that
   * task is what enqueue returns, nothing new is stored); what it throws is thrown. An endpoint
   * that enqueues in its own transaction throws here, or sets a flag, so as not to write its own
   * rows a second time for a request sent twice.
   */
  checkExisting?: (task: Task) => void;
}

export interface EnqueueManyOptions extends Omit<EnqueueOptions, 'checkExisting'> {
  /**
   * What an error's field names the bad input by: `<fieldPrefix>[i].args` for every input, one
   * alone included (e.g. `items` → `items[0].args`). Default: `[i].args`, and `args` for one input.
   */
  fieldPrefix?: string;
  /**
   * Called for each input whose idempotency key names a task stored before this call (not one
   * made by an earlier input of the same call); what it throws is thrown, and nothing of the call
   * is stored (without `tx`, the call then runs in a transaction of its own). GraphQL's
   * enqueueTasks refuses so to hand another credential's task to one that may not read it.
   */
  checkExisting?: (task: Task, index: number) => void;
  /**
   * Told of each input whose idempotency key named a task stored before this call, as
   * checkExisting is, but only told: it must not throw, and it needs no transaction of its own
   * (what counts new tasks, taskwire_tasks_enqueued_total, listens so).
   */
  onExisting?: (task: Task, index: number) => void;
}

/**
 * The queue's API, as used by apps, the GraphQL layer and the CLI. The queue createQueue returns
 * sees every tenant; `scoped` gives one limited to a tenant, with the same methods: its reads
 * treat another tenant's task exactly as an unknown id (undefined, the same NotFoundError, an
 * empty log), and its enqueues carry its tenant and creator.
 */
export interface Queue {
  /** What this queue is limited to (UNSCOPED: every tenant, enqueues as 'default'). */
  readonly scope: QueueScope;
  /**
   * The same queue (same connections, same enqueue batching) limited to `scope`. From a scoped
   * queue only a narrower one can be made: one that sees one tenant cannot widen it.
   * @throws Error when a tenant is not storable text of 1..MAX_TENANT characters, or the scope widens
   */
  scoped(scope: QueueScope): Queue;
  enqueue(input: EnqueueInput, options?: EnqueueOptions): Promise<Task>;
  /**
   * All or nothing, in one statement: a bad input or a CONFLICT stores none of them. A small call
   * (at most 100 inputs and ~16 KB of arguments, no idempotency keys, no `tx`) shares its statement
   * and commit with concurrent small calls (src/queue/enqueue-batcher.ts), still all or nothing; a
   * large one (more than STATEMENT_ROWS inputs, no keys, no `tx`) goes as several statements in one
   * transaction, still all or nothing (storeByStatements in src/queue/enqueue.ts).
   */
  enqueueMany(inputs: readonly EnqueueInput[], options?: EnqueueManyOptions): Promise<Task[]>;
  getTask(id: string): Promise<Task | undefined>;
  /**
   * The task once it has finished (SUCCEEDED, FAILED or CANCELLED): woken by its notification,
   * polled besides (src/queue/wait-for-task.ts). What a program or a test that enqueued work
   * waits on without a GraphQL server.
   * @throws NotFoundError for an unknown id; TaskWaitTimeoutError past `timeoutMs`; the signal's reason
   */
  waitFor(id: string, options?: WaitForTaskOptions): Promise<Task>;
  getTasks(ids: readonly string[]): Promise<Task[]>;
  listTasks(params: ListParams): Promise<TaskPage>;
  /** @throws NotFoundError; ConflictError when the task already SUCCEEDED or FAILED. */
  cancelTask(id: string): Promise<Task>;
  /** FAILED/CANCELLED → PENDING with the definition's attempts again. @throws NotFoundError, ConflictError */
  retryTask(id: string): Promise<Task>;
  /**
   * A task waiting for its runAfter (enqueued for later, snoozed, backing off before a retry) made due
   * now, status and attempts unchanged (src/queue/sql/promote-task.ts); a waiting task already due is
   * answered as it is. @throws NotFoundError; ConflictError when it runs, has finished or is BLOCKED.
   */
  runTaskNow(id: string): Promise<Task>;
  queueStats(): Promise<QueueStats[]>;
  /** A page of one task's event log, oldest first (an unknown task has an empty log). */
  listTaskEvents(params: ListEventsParams): Promise<TaskEventPage>;
  /** Events after given versions of many tasks in one query, up to `limitPerTask` each. */
  readEventsAfter(wants: readonly LogWant[], limitPerTask: number): Promise<TaskEventRecord[]>;
  /** The global feed after a position (see src/queue/event-feed.ts). */
  readFeed(p: { after: FeedPosition; upTo?: FeedPosition | null; limit: number }): Promise<FeedPage>;
  /** Where a feed reader that wants only what comes from now on starts, and the next transaction id. */
  feedEnd(): Promise<FeedEnd>;
  /** The database's clock now (clock_timestamp()), which every stamp of a task was read from; the same for every scope. */
  now(): Promise<Date>;
  /** Cron schedules (src/queue/schedules), scoped like the rest. */
  readonly schedules: Schedules & ScheduleLookup;
  /** Graphs of tasks with dependencies (src/queue/workflows), scoped like the rest. */
  readonly workflows: Workflows;
  /** cancelTasks / retryTasks over the tasks matching a filter (src/queue/bulk-actions), scoped like the rest. */
  readonly bulkActions: BulkActions;
  /** Pause, resume and limits per queue (docs/flow-control.md): the settings are global, the stats this scope's. */
  readonly queueControl: QueueControl;
}

export function createQueue(options: QueueOptions): Queue {
  const { sql, catalog } = options;
  const limits = { maxArgsBytes: options.maxArgsBytes };
  // Enqueues outside a caller's transaction share statements (group commit); see the batcher.
  // One batcher for every scope: tasks of many tenants ride one statement (the row carries its tenant).
  const batcher = createEnqueueBatcher(sql);

  function bind(scope: QueueScope): Queue {
    const tenant = scope.readTenant;

    async function mustGet(id: string): Promise<Task> {
      const task = await getTask(sql, id, tenant);
      // Another tenant's task: the very error of an unknown id.
      if (!task) throw new NotFoundError('Task', id);
      return task;
    }

    return {
      scope,
      scoped(next) {
        checkScope(next);
        if (tenant !== null && (next.readTenant !== tenant || next.writeTenant !== scope.writeTenant)) {
          throw new Error(`A queue scoped to tenant "${tenant}" cannot be scoped to see or write another`);
        }
        return bind(Object.freeze({ ...next }));
      },
      async enqueue(input, o) {
        const row = prepareTask(catalog, input, limits, scope);
        let task: Task;
        if (o?.tx) {
          // A CONFLICT here is thrown without failing a statement, so the caller's transaction stays usable.
          const [outcome] = await storeTasks(toExecutor(o.tx), [row]);
          if (outcome instanceof ConflictError) throw outcome;
          task = outcome as Task;
        } else {
          // Validated above, before batching, so that bad input fails only its own call.
          task = await batcher.enqueue(row);
        }
        // Another id than the row's: its key named a task stored before (nothing of this call was stored).
        if (o?.checkExisting && task.id !== row.id) o.checkExisting(task);
        return task;
      },
      async enqueueMany(inputs, o) {
        if (o?.tx) return enqueueTasks(toExecutor(o.tx), catalog, inputs, limits, scope, o);
        // A refusal after the insert must take it back: one transaction. Only a key can name a task
        // stored before, so a call without keys needs none.
        if (o?.checkExisting && inputs.some(hasKey)) {
          return transaction(sql, (tx) => enqueueTasks(tx, catalog, inputs, limits, scope, o));
        }
        // A large call without keys: statements of STATEMENT_ROWS, pipelined, in a transaction of its own.
        if (goByStatements(inputs)) {
          return transaction(sql, (tx) => enqueueTasks(tx, catalog, inputs, limits, scope, { ...o, byStatements: true }));
        }
        // A small call without keys shares the next statement with concurrent enqueues (one commit).
        return enqueueTasks(sql, catalog, inputs, limits, scope, { ...o, batcher });
      },
      getTask: (id) => getTask(sql, id, tenant),
      waitFor: (id, waitOptions) => waitForTask(sql, id, () => getTask(sql, id, tenant), waitOptions),
      getTasks: (ids) => getTasks(sql, ids, tenant),
      listTasks: (params) => listTasks(sql, params, tenant),
      async cancelTask(id) {
        assertTaskId(id);
        const changed = await requestCancel(sql, { id, defaultTtlMs: options.resultTtlMs, tenant });
        if (changed) return changed;
        const task = await mustGet(id);
        // Already cancelled, or already being cancelled: asking again is not an error.
        if (task.status === 'CANCELLED' || (task.status === 'RUNNING' && task.cancelRequested)) return task;
        throw new ConflictError(`Task ${id} is ${task.status} and can no longer be cancelled`, { field: 'id' });
      },
      async retryTask(id) {
        assertTaskId(id);
        const changed = await requeueTask(sql, { id, tenant });
        if (changed) return changed;
        const task = await mustGet(id);
        // A FAILED/CANCELLED task left alone: a step of a cancelled workflow (requeueCtes).
        if (task.workflowId && (task.status === 'FAILED' || task.status === 'CANCELLED') && (await getWorkflowStatus(sql, task.workflowId)) === 'CANCELLED') {
          throw new ConflictError(
            `Task ${id} is a step of workflow ${task.workflowId}, which was cancelled; the steps of a cancelled workflow cannot be retried (enqueue the workflow again)`,
            { field: 'id', details: { workflowId: task.workflowId } },
          );
        }
        throw new ConflictError(
          `Task ${id} is ${task.status}; only FAILED or CANCELLED tasks can be retried${isTerminal(task.status) ? '' : ' (it has not finished)'}`,
          { field: 'id' },
        );
      },
      async runTaskNow(id) {
        assertTaskId(id);
        const changed = await promoteTask(sql, { id, tenant });
        if (changed) return changed;
        const task = await mustGet(id);
        // Due already (or made due by another call a moment ago): nothing to do, as pausing twice is fine.
        if (task.status === 'PENDING' || task.status === 'RETRYING') return task;
        const why =
          task.status === 'BLOCKED'
            ? ' (a workflow step waits for its parents, not for a time)'
            : task.status === 'RUNNING'
              ? ' (it is running)'
              : ' (it has finished: retryTask runs a FAILED or CANCELLED task again)';
        throw new ConflictError(`Task ${id} is ${task.status}; only a PENDING or RETRYING task can be made due now${why}`, { field: 'id' });
      },
      queueStats: () => queueStats(sql, tenant),
      listTaskEvents: (params) => listTaskEvents(sql, params, tenant),
      readEventsAfter: (wants, limitPerTask) => readEventsAfter(sql, wants, limitPerTask, tenant),
      readFeed: (p) => readFeed(sql, p, tenant),
      feedEnd: () => feedEnd(sql),
      now: () => readClock(sql),
      schedules: withScheduleLookup(createSchedules({ sql, catalog, maxArgsBytes: options.maxArgsBytes }, scope), sql, tenant),
      workflows: createWorkflows({ sql, catalog, maxArgsBytes: options.maxArgsBytes, resultTtlMs: options.resultTtlMs }, scope),
      bulkActions: createBulkActions(sql, scope),
      queueControl: createQueueControl(sql, tenant),
    };
  }

  return bind(UNSCOPED);
}

/** A scope the database can hold: tenants are 1..MAX_TENANT characters of storable text (a programming error otherwise). */
function checkScope(scope: QueueScope): void {
  if (scope.readTenant !== null && !isTenantName(scope.readTenant)) throw new Error(`QueueScope.readTenant is not a tenant name: ${JSON.stringify(scope.readTenant)}`);
  if (!isTenantName(scope.writeTenant)) throw new Error(`QueueScope.writeTenant is not a tenant name: ${JSON.stringify(scope.writeTenant)}`);
  if (scope.createdBy !== null && (typeof scope.createdBy !== 'string' || !isStorableText(scope.createdBy))) {
    throw new Error('QueueScope.createdBy must be storable text or null');
  }
}

export { isTenantName, MAX_TENANT, UNSCOPED, type QueueScope } from './enqueue.js';
export { DEFAULT_TENANT } from './sql/insert-tasks.js';
export type { EnqueueInput } from './enqueue.js';
export type { ListParams, TaskFilter, TaskPage } from './list.js';
export { LIVE_STATUSES, type LiveQueueStats, type LiveStatus, type QueueStats } from './stats.js';
export type { Task, TaskError, TaskProgress, Backoff } from './task.js';
export type { TaskStatus, TaskEventType } from './states.js';
export type { FeedPosition, LogWant, TaskEventPage, TaskEventRecord, ListEventsParams } from './event-log.js';
export type { FeedEvent, FeedPage } from './event-feed.js';
export {
  WORKFLOWS_CHANNEL,
  encodeWorkflowChanges,
  decodeWorkflowChanges,
  chain,
  group,
  chord,
  DEPENDENCY_FAILURE_POLICIES,
  WORKFLOW_STATUSES,
  type WorkflowChange,
  type DependencyFailurePolicy,
  type EnqueueWorkflowInput,
  type Workflow,
  type WorkflowStatus,
  type WorkflowStep,
  type WorkflowStepInput,
  type Workflows,
} from './workflows/index.js';
export type { Schedule, Schedules, UpsertScheduleInput, ScheduleTaskInput, OverlapPolicy, MissedRunPolicy, SchedulePage, ListSchedulesParams, ScheduleRunsParams } from './schedules/types.js';
export { OVERLAP_POLICIES, MISSED_RUN_POLICIES } from './schedules/types.js';
export type { BulkAction, BulkActions, BulkActionKind, BulkActionStatus } from './bulk-actions/types.js';
export type { QueueControl, QueueInfo, QueueLimitsInput, QueueSettings, RateLimit, StatsRead, WaitReason } from './queue-control/index.js';
