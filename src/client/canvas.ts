/**
 * Celery's canvas on top of workflows, for the typed client: each helper builds an
 * EnqueueWorkflowInput to hand to `client.enqueueWorkflow` (add `name` or `idempotencyKey`
 * with a spread: `{ ...chain(a, b), name: 'nightly' }`). The same shapes and refs as the core's
 * helpers (src/queue/workflows/canvas.ts), which the client cannot import (it bundles nothing of
 * the server): test/client/workflows.test.ts holds the two to the same output.
 */
import type { DependencyFailurePolicy, EnqueueTaskInput, EnqueueWorkflowInput, WorkflowStepInput } from './generated/graphql.js';

/** One task of a canvas: what enqueueTask takes (name, args, kwargs, queue, priority, …). */
export type CanvasTask = EnqueueTaskInput;

/**
 * `chain(a, b, c)`: one after another; step i + 1 starts when step i SUCCEEDED and reads its
 * result as `ctx.dependencies['<i>']` (refs `0`, `1`, …). A failed step cancels the rest.
 */
export function chain(...tasks: CanvasTask[]): EnqueueWorkflowInput {
  return { steps: tasks.map((task, i): WorkflowStepInput => (i === 0 ? { ref: '0', task } : { ref: String(i), task, dependsOn: [String(i - 1)] })) };
}

/** `group([a, b, c])`: side by side, independent of each other (refs `0`, `1`, …). */
export function group(tasks: readonly CanvasTask[]): EnqueueWorkflowInput {
  return { steps: tasks.map((task, i) => ({ ref: String(i), task })) };
}

/**
 * `chord([a, b], callback)`: the header side by side (refs `header.0`, `header.1`, …), then
 * `callback` (ref `callback`) once all of them SUCCEEDED, reading their results as
 * `ctx.dependencies['header.<i>']`. A failed header task cancels the callback; with
 * `onDependencyFailure: 'RUN_ANYWAY'` it runs whatever (failed ones read as null).
 */
export function chord(
  header: readonly CanvasTask[],
  callback: CanvasTask,
  options: { onDependencyFailure?: DependencyFailurePolicy } = {},
): EnqueueWorkflowInput {
  const refs = header.map((_, i) => `header.${i}`);
  return {
    steps: [
      ...header.map((task, i) => ({ ref: refs[i] as string, task })),
      { ref: 'callback', task: callback, dependsOn: refs, ...(options.onDependencyFailure ? { onDependencyFailure: options.onDependencyFailure } : {}) },
    ],
  };
}
