import type { Executor } from '../db/client.js';
import { toTask, type Task } from './task.js';
import { BadUserInputError } from '../errors.js';
import { isUuid } from './uuid.js';

/** Task ids are UUIDs; anything else is a malformed request, not an unknown task. */
export function assertTaskId(id: string, field = 'id'): void {
  if (!isUuid(id)) throw new BadUserInputError(`${field} must be a task id (a UUID), got ${JSON.stringify(id)}`, { field });
}

/** A task by id (primary key), or undefined. A string that is not a UUID is simply not found. */
export async function getTask(exec: Executor, id: string): Promise<Task | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await exec`SELECT * FROM tasks WHERE id = ${id}`;
  return row ? toTask(row) : undefined;
}

/** Tasks by id, in one query (primary key); absent ids are left out. */
export async function getTasks(exec: Executor, ids: readonly string[]): Promise<Task[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  const rows = await exec`SELECT * FROM tasks WHERE id = ANY(${valid}::uuid[])`;
  return rows.map((row) => toTask(row));
}
