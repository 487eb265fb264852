import type { EnqueueInput } from '../enqueue.js';
import type { EnqueueWorkflowInput, WorkflowStepInput } from './types.js';

/**
 * Celery's canvas over workflows. Steps get refs by position (`0`, `1`, … for a chain and a
 * group; `header.0`, …, `callback` for a chord), which is what `ctx.dependencies` is keyed by.
 */

/**
 * Runs `tasks` one after another: step i + 1 starts when step i SUCCEEDED and reads its
 * result as `ctx.dependencies['<i>']`. A failed step cancels the rest (policy CANCEL).
 */
export function chain(...tasks: EnqueueInput[]): EnqueueWorkflowInput {
  return { steps: tasks.map((task, i): WorkflowStepInput => (i === 0 ? { ref: '0', task } : { ref: String(i), task, dependsOn: [String(i - 1)] })) };
}

/** Runs `tasks` side by side, independent of each other (refs `0`, `1`, …). */
export function group(tasks: readonly EnqueueInput[]): EnqueueWorkflowInput {
  return { steps: tasks.map((task, i) => ({ ref: String(i), task })) };
}

/**
 * Runs `header` side by side, then `callback` once all of them SUCCEEDED, with their results
 * as `ctx.dependencies['header.<i>']`. A failed header task cancels the callback (policy
 * CANCEL); give `onDependencyFailure: 'RUN_ANYWAY'` to run it whatever (failed ones read as null).
 */
export function chord(
  header: readonly EnqueueInput[],
  callback: EnqueueInput,
  options: { onDependencyFailure?: WorkflowStepInput['onDependencyFailure'] } = {},
): EnqueueWorkflowInput {
  const refs = header.map((_, i) => `header.${i}`);
  return {
    steps: [
      ...header.map((task, i) => ({ ref: refs[i] as string, task })),
      { ref: 'callback', task: callback, dependsOn: refs, ...(options.onDependencyFailure ? { onDependencyFailure: options.onDependencyFailure } : {}) },
    ],
  };
}
