import type { Sql } from '../../db/client.js';
import type { TaskCatalog } from '../catalog.js';
import type { QueueScope } from '../enqueue.js';
import type { Schedules } from './types.js';

export interface SchedulesOptions {
  sql: Sql;
  catalog: TaskCatalog;
  /** Largest args + kwargs of a schedule's task, in bytes of JSON. */
  maxArgsBytes: number;
}

/** The schedules of one queue scope (see Schedules). */
export function createSchedules(_o: SchedulesOptions, _scope: QueueScope): Schedules {
  const todo = (): never => {
    throw new Error('schedules: not implemented yet');
  };
  return { upsert: todo, get: todo, list: todo, pause: todo, resume: todo, delete: todo, trigger: todo, upcoming: todo, runs: todo };
}
