/**
 * The workflow core's interface (DESIGN.md Part 2 §C): a graph of tasks whose steps start when
 * their parents end, with each parent's result passed on as `ctx.dependencies[ref]`.
 * docs/workflows.md ("Core semantics") describes the policies and status rules.
 */
import type { EnqueueInput } from '../enqueue.js';
import type { ExternalExecutor } from '../executor.js';
import { DEPENDENCY_FAILURE_POLICIES, WORKFLOW_STATUSES, type DependencyFailurePolicy, type WorkflowStatus } from '../../states.js';

// One source of truth with the database enums (src/states.ts).
export { DEPENDENCY_FAILURE_POLICIES, WORKFLOW_STATUSES, type DependencyFailurePolicy, type WorkflowStatus };

export interface WorkflowStepInput {
  /** Unique within the workflow; what `dependsOn` and `ctx.dependencies` name the step by. */
  ref: string;
  task: EnqueueInput;
  /** Refs of the steps this one waits for (none: it starts PENDING at once). */
  dependsOn?: string[] | null;
  /** Default CANCEL (null: the default, as GraphQL hands it over). */
  onDependencyFailure?: DependencyFailurePolicy | null;
}

export interface EnqueueWorkflowInput {
  name?: string | null;
  steps: WorkflowStepInput[];
  /** Unique per tenant: enqueueing again with the same key returns the stored workflow. */
  idempotencyKey?: string | null;
}

export interface EnqueueWorkflowOptions {
  /**
   * Store the workflow inside this transaction (a postgres.js one, or a Drizzle database on
   * postgres.js), as `enqueue(input, { tx })` does a task: it exists, its steps run and its
   * notifications go out only if the transaction commits.
   */
  tx?: ExternalExecutor;
}

export interface WorkflowStep {
  ref: string;
  taskId: string;
  /** Refs of the parents. */
  dependsOn: string[];
}

export interface Workflow {
  id: string;
  tenant: string;
  name: string | null;
  status: WorkflowStatus;
  /** Bumped by every change of the workflow row (sent on WORKFLOWS_CHANNEL). */
  version: number;
  steps: WorkflowStep[];
  /**
   * Its steps, those that ended (SUCCEEDED, FAILED or CANCELLED) and those that succeeded: the row's
   * counters (kept by the step-end trigger), so progress reads no step.
   */
  stepCounts: WorkflowStepCounts;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface WorkflowStepCounts {
  total: number;
  finished: number;
  succeeded: number;
}

export interface Workflows {
  /**
   * Stores every step in one statement, or none. Idempotent per (tenant, idempotencyKey).
   * @throws ValidationError (BAD_USER_INPUT) naming the step: a cycle, an unknown or duplicate ref, a bad task
   */
  enqueue(input: EnqueueWorkflowInput, options?: EnqueueWorkflowOptions): Promise<Workflow>;
  /** Undefined when unknown or another tenant's. */
  get(id: string): Promise<Workflow | undefined>;
  /**
   * Cancels every unfinished step (running ones through their AbortSignal); the workflow becomes CANCELLED.
   * Cancelling a finished workflow returns it unchanged.
   * @throws NotFoundError when unknown / another tenant's
   */
  cancel(id: string): Promise<Workflow>;
}
