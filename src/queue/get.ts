import type { PendingQuery, Row } from 'postgres';
import type { Executor } from '../db/client.js';
import { toTask, type Task } from './task.js';
import { BadUserInputError } from '../errors.js';
import { isUuid } from './uuid.js';

/** Task ids are UUIDs; anything else is a malformed request, not an unknown task. */
export function assertTaskId(id: string, field = 'id'): void {
  if (!isUuid(id)) throw new BadUserInputError(`${field} must be a task id (a UUID), got ${JSON.stringify(id)}`, { field });
}

/**
 * `AND <column> = $tenant` for a query limited to one tenant; nothing for null (every tenant),
 * so that an unscoped read keeps its plain statement. `column` is SQL text (a column name).
 */
export function andTenant(exec: Executor, tenant: string | null, column = 'tenant'): PendingQuery<Row[]> {
  return tenant === null ? exec`` : exec`AND ${exec.unsafe(column)} = ${tenant}`;
}

/**
 * A task by id (primary key), or undefined. A string that is not a UUID is simply not found,
 * and so is another tenant's task when `tenant` is given (null: any tenant).
 */
export async function getTask(exec: Executor, id: string, tenant: string | null = null): Promise<Task | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await exec`SELECT * FROM tasks WHERE id = ${id} ${andTenant(exec, tenant)}`;
  return row ? toTask(row) : undefined;
}

/** Tasks by id, in one query (primary key); absent ids (and, with `tenant`, other tenants' tasks) are left out. */
export async function getTasks(exec: Executor, ids: readonly string[], tenant: string | null = null): Promise<Task[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  const rows = await exec`SELECT * FROM tasks WHERE id = ANY(${valid}::uuid[]) ${andTenant(exec, tenant)}`;
  return rows.map((row) => toTask(row));
}
