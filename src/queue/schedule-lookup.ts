import type { Sql } from '../db/client.js';
import { toSchedule } from './schedules/sql/store-schedules.js';
import type { Schedule, Schedules } from './schedules/types.js';
import { isUuid } from './uuid.js';

/** A schedule by its id, for what holds the id rather than the key (a task's `scheduleId`). */
export interface ScheduleLookup {
  /** The schedule with this id as the scope sees it: another tenant's, a deleted one or a malformed id is undefined. */
  getById(id: string): Promise<Schedule | undefined>;
}

/**
 * `schedules` plus getById, read in the scope's `readTenant` (null: every tenant), as `list` reads:
 * another tenant's schedule is exactly an unknown one. By primary key, one row.
 */
export function withScheduleLookup(schedules: Schedules, sql: Sql, tenant: string | null): Schedules & ScheduleLookup {
  return {
    ...schedules,
    async getById(id) {
      if (!isUuid(id)) return undefined;
      const [row] = await sql`SELECT * FROM schedules WHERE id = ${id} AND (${tenant}::text IS NULL OR tenant = ${tenant})`;
      return row ? toSchedule(row) : undefined;
    },
  };
}
