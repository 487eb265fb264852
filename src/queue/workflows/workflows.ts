import type { Sql } from '../../db/client.js';
import type { TaskCatalog } from '../catalog.js';
import type { QueueScope } from '../enqueue.js';
import type { Workflows } from './types.js';

export interface WorkflowsOptions {
  sql: Sql;
  catalog: TaskCatalog;
  /** Largest args + kwargs of a task, in bytes of JSON. */
  maxArgsBytes: number;
  /** Retention of finished tasks without their own TTL, in ms. */
  resultTtlMs: number;
}

/** The workflows of one scope (Queue.workflows). */
export function createWorkflows(_options: WorkflowsOptions, _scope: QueueScope): Workflows {
  const notYet = (): never => {
    throw new Error('Workflows are not implemented yet');
  };
  return { enqueue: async () => notYet(), get: async () => notYet(), cancel: async () => notYet() };
}
