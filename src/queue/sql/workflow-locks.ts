import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../../db/client.js';

/**
 * Workflow rows before step rows (docs/decisions.md "One lock order for task rows"). A statement
 * that may move a workflow step into or out of an end fires the steps trigger
 * (taskwire_workflow_steps_changed, drizzle/0015), which locks the step's workflow and then its
 * BLOCKED (or, for a retry, CANCELLED) children. Taken in that order after the statement's own
 * rows, a step ending and its child cancelled at the same moment deadlocked: the first held the
 * workflow and waited for the child, the second held the child and waited for the workflow.
 * So such a statement locks the workflows of the tasks it may change first, in id order, before
 * any task row; two statements changing steps of one workflow then queue on its row, and the
 * trigger finds it already held. A plain task has no workflow: nothing is locked for it.
 * A statement that cannot know its tasks before locking them (the rescuer, the cleaner) takes
 * them SKIP LOCKED and their workflows SKIP LOCKED too, leaving for its next round the tasks whose
 * workflow it did not get: the rule is that nobody waits for a workflow row while holding a
 * task row, and a lock taken without waiting closes no cycle.
 *
 * `wf_locked`, a CTE for the statement's WITH, locks the workflows whose ids `workflowIds` (a
 * query of one uuid column, read without locks: a task's workflow_id never changes) yields
 * (workflows_pkey, an index scan of the array: none for plain tasks' NULLs, whatever the planner
 * thinks of the size of workflows), with their status as it is once locked (a FOR UPDATE reads
 * the row's latest version, whatever the statement's snapshot). It must come before the CTE that locks or changes task rows, and that CTE
 * must hold WORKFLOWS_FIRST in its WHERE: an uncorrelated condition, a one-time filter evaluated
 * before its scan returns (and so locks) its first row; it also makes wf_locked run at all.
 */
export function workflowLockCte(exec: Executor, workflowIds: PendingQuery<Row[]>): PendingQuery<Row[]> {
  return exec`wf_locked AS MATERIALIZED (SELECT id, status FROM workflows WHERE id = ANY(ARRAY(${workflowIds})) ORDER BY id FOR UPDATE)`;
}

/** The condition that orders a task statement after wf_locked (see workflowLockCte). */
export const WORKFLOWS_FIRST = '(SELECT count(*) FROM wf_locked) >= 0';
