export { WORKFLOWS_CHANNEL, encodeWorkflowChanges, decodeWorkflowChanges, type WorkflowChange } from './channel.js';
export { createWorkflows, type WorkflowsOptions } from './workflows.js';
export { chain, group, chord } from './canvas.js';
export {
  DEPENDENCY_FAILURE_POLICIES,
  WORKFLOW_STATUSES,
  type DependencyFailurePolicy,
  type EnqueueWorkflowInput,
  type EnqueueWorkflowOptions,
  type Workflow,
  type WorkflowStatus,
  type WorkflowStep,
  type WorkflowStepCounts,
  type WorkflowStepInput,
  type Workflows,
} from './types.js';
