/**
 * Celery's canvas on top of workflows, for the typed client: each helper builds an
 * EnqueueWorkflowInput to hand to `client.enqueueWorkflow`. The same shapes and refs as the
 * core's helpers (src/queue/workflows/canvas.ts), which the client cannot import (it bundles
 * nothing of the server): a test holds the two to the same output.
 */
import type { EnqueueTaskInput, EnqueueWorkflowInput } from './generated/graphql.js';

/** One task of a canvas: what enqueueTask takes (name, args, kwargs, queue, priority, …). */
export type CanvasTask = EnqueueTaskInput;

/** Options every helper takes: a workflow name and an idempotency key. */
export interface CanvasOptions {
  name?: string;
  idempotencyKey?: string;
}

const meta = (options: CanvasOptions | undefined): Pick<EnqueueWorkflowInput, 'name' | 'idempotencyKey'> => ({
  ...(options?.name !== undefined ? { name: options.name } : {}),
  ...(options?.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
});

/**
 * `chain(a, b, c)`: a, then b once a succeeded, then c; each reads the one before in
 * `ctx.dependencies[ref]`. Steps are named `0`, `1`, `2`, … in order.
 */
export function chain(...tasks: CanvasTask[]): EnqueueWorkflowInput {
  return chainWith({}, ...tasks);
}

/** chain with a workflow name / idempotency key. */
export function chainWith(options: CanvasOptions, ...tasks: CanvasTask[]): EnqueueWorkflowInput {
  return {
    ...meta(options),
    steps: tasks.map((task, i) => ({ ref: String(i), task, ...(i > 0 ? { dependsOn: [String(i - 1)] } : {}) })),
  };
}

/** `group([a, b, c])`: all at once, none waiting for another. Steps are named `0`, `1`, `2`, …. */
export function group(tasks: readonly CanvasTask[], options?: CanvasOptions): EnqueueWorkflowInput {
  return { ...meta(options), steps: tasks.map((task, i) => ({ ref: String(i), task })) };
}

/**
 * `chord([a, b], callback)`: the header's tasks at once, then `callback` once they all ended, with
 * every result in `ctx.dependencies` (`0`, `1`, …). The callback's step is named `callback`.
 */
export function chord(header: readonly CanvasTask[], callback: CanvasTask, options?: CanvasOptions): EnqueueWorkflowInput {
  const refs = header.map((_task, i) => String(i));
  return {
    ...meta(options),
    steps: [...header.map((task, i) => ({ ref: String(i), task })), { ref: 'callback', task: callback, dependsOn: refs }],
  };
}
