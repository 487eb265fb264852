import type { EnqueueInput } from '../enqueue.js';
import type { EnqueueWorkflowInput } from './types.js';

/** Placeholder until the canvas lands (same signatures). */
export function chain(..._tasks: EnqueueInput[]): EnqueueWorkflowInput {
  throw new Error('not implemented yet');
}
export function group(_tasks: readonly EnqueueInput[]): EnqueueWorkflowInput {
  throw new Error('not implemented yet');
}
export function chord(_header: readonly EnqueueInput[], _callback: EnqueueInput): EnqueueWorkflowInput {
  throw new Error('not implemented yet');
}
