import type { Sql } from '../../db/client.js';
import { BadUserInputError, NotFoundError } from '../../errors.js';
import type { TaskCatalog } from '../catalog.js';
import { prepareTask, type EnqueueInput, type QueueScope } from '../enqueue.js';
import { isStorableText } from '../json.js';
import { decodeCursor, pageCursors } from '../list.js';
import { uuidv7 } from '../uuid.js';
import { DEFAULT_TIMEZONE, nextOccurrence, nextOccurrences, parseCron } from './cron.js';
import {
  countScheduleRuns,
  countSchedules,
  databaseNow,
  deleteSchedule,
  getSchedule,
  listScheduleRuns,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  triggerSchedule,
  upsertSchedule,
} from './sql/store-schedules.js';
import { MISSED_RUN_POLICIES, OVERLAP_POLICIES, type Schedule, type Schedules, type UpsertScheduleInput } from './types.js';

export interface SchedulesOptions {
  sql: Sql;
  catalog: TaskCatalog;
  /** Largest args + kwargs of a schedule's task, in bytes of JSON. */
  maxArgsBytes: number;
}

const MAX_KEY = 200;
const MAX_PAGE = 100;
const DEFAULT_PAGE = 20;
/** Most occurrences `upcoming` computes. */
export const MAX_UPCOMING = 100;

/** The schedules of one queue scope (see Schedules). */
export function createSchedules(o: SchedulesOptions, scope: QueueScope): Schedules {
  const { sql } = o;
  const tenant = scope.writeTenant;

  async function mustGet(key: string): Promise<Schedule> {
    checkKey(key);
    const schedule = await getSchedule(sql, tenant, key);
    // Another tenant's schedule: the very error of an unknown key.
    if (!schedule) throw new NotFoundError('Schedule', key, { field: 'key' });
    return schedule;
  }

  return {
    async upsert(input) {
      checkKey(input.key);
      const timezone = input.timezone ?? DEFAULT_TIMEZONE;
      const spec = parseCron(input.cron, timezone);
      checkPolicy(input.overlap, OVERLAP_POLICIES, 'overlap');
      checkPolicy(input.missed, MISSED_RUN_POLICIES, 'missed');
      if (input.paused !== undefined && typeof input.paused !== 'boolean') throw new BadUserInputError('paused must be a boolean', { field: 'paused' });
      const task = prepareTask(o.catalog, taskInput(input), { maxArgsBytes: o.maxArgsBytes }, scope, 'task.');
      return upsertSchedule(sql, {
        id: uuidv7(),
        tenant: task.tenant,
        key: input.key,
        cron: spec.cron,
        timezone: spec.timezone,
        taskName: task.name,
        args: task.args,
        kwargs: task.kwargs,
        queue: task.queue,
        priority: task.priority,
        maxAttempts: task.maxAttempts,
        timeoutMs: task.timeoutMs,
        resultTtlMs: task.resultTtlMs,
        backoff: task.backoff,
        concurrencyKey: task.concurrencyKey,
        createdBy: scope.createdBy,
        overlap: input.overlap,
        missed: input.missed,
        paused: input.paused,
        nextRunAt: nextOccurrence(spec, await databaseNow(sql)),
      });
    },
    async get(key) {
      checkKey(key);
      return getSchedule(sql, tenant, key);
    },
    async list(params = {}) {
      const first = params.first ?? DEFAULT_PAGE;
      if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) {
        throw new BadUserInputError(`first must be an integer from 0 to ${MAX_PAGE}, got ${first}`, { field: 'first' });
      }
      const after = params.after === undefined ? null : decodeScheduleCursor(params.after);
      const readTenant = scope.readTenant;
      const page = await listSchedules(sql, { tenant: readTenant, limit: first, after });
      return {
        schedules: page.rows,
        cursors: page.rows.map((s) => encodeScheduleCursor(s)),
        hasNextPage: page.more,
        totalCount: () => countSchedules(sql, readTenant),
      };
    },
    async pause(key) {
      checkKey(key);
      const schedule = await pauseSchedule(sql, tenant, key);
      if (!schedule) throw new NotFoundError('Schedule', key, { field: 'key' });
      return schedule;
    },
    async resume(key) {
      // Retried when the schedule changes between the read and the update (an edit, a fire).
      for (;;) {
        const current = await mustGet(key);
        if (!current.paused) return current;
        const now = await databaseNow(sql);
        // The first occurrence after now: the paused interval is not replayed.
        const next = nextOccurrence(parseCron(current.cron, current.timezone), now);
        const resumed = await resumeSchedule(sql, current.id, current.version, next);
        if (resumed) return resumed;
      }
    },
    async delete(key) {
      checkKey(key);
      return deleteSchedule(sql, tenant, key);
    },
    async trigger(key) {
      checkKey(key);
      const task = await triggerSchedule(sql, tenant, key, uuidv7());
      if (!task) throw new NotFoundError('Schedule', key, { field: 'key' });
      return task;
    },
    async upcoming(schedule, count = 5) {
      if (!Number.isInteger(count) || count < 0 || count > MAX_UPCOMING) {
        throw new BadUserInputError(`count must be an integer from 0 to ${MAX_UPCOMING}, got ${count}`, { field: 'count' });
      }
      const s = typeof schedule === 'string' ? await mustGet(schedule) : schedule;
      return nextOccurrences(parseCron(s.cron, s.timezone), await databaseNow(sql), count);
    },
    async runs(of, params = {}) {
      // A Schedule already read is its own tenant's, whichever view read it (an admin's list).
      const schedule = typeof of === 'string' ? await mustGet(of) : of;
      const first = params.first ?? DEFAULT_PAGE;
      if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE) {
        throw new BadUserInputError(`first must be an integer from 0 to ${MAX_PAGE}, got ${first}`, { field: 'first' });
      }
      const before = params.after === undefined ? null : decodeCursor(params.after, 'after');
      const page = await listScheduleRuns(sql, { scheduleId: schedule.id, limit: first, before });
      return {
        tasks: page.tasks,
        hasNextPage: page.more,
        hasPreviousPage: before !== null,
        ...pageCursors(page.tasks),
        totalCount: () => countScheduleRuns(sql, schedule.id),
      };
    },
  };
}

/** The enqueue input of a schedule's task: only the fields an occurrence does not decide itself. */
function taskInput(input: UpsertScheduleInput): EnqueueInput {
  const t = input.task;
  if (typeof t !== 'object' || t === null) throw new BadUserInputError('task must be an object', { field: 'task' });
  const out: EnqueueInput = { name: t.name };
  if (t.args !== undefined) out.args = t.args;
  if (t.kwargs !== undefined) out.kwargs = t.kwargs;
  if (t.queue !== undefined) out.queue = t.queue;
  if (t.priority !== undefined) out.priority = t.priority;
  if (t.maxAttempts !== undefined) out.maxAttempts = t.maxAttempts;
  if (t.timeoutMs !== undefined) out.timeoutMs = t.timeoutMs;
  if (t.resultTtlMs !== undefined) out.resultTtlMs = t.resultTtlMs;
  if (t.backoff !== undefined) out.backoff = t.backoff;
  if (t.concurrencyKey !== undefined) out.concurrencyKey = t.concurrencyKey;
  if (input.tenant !== undefined) out.tenant = input.tenant;
  return out;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY || !isStorableText(key)) {
    throw new BadUserInputError(`key must be a non-empty string of at most ${MAX_KEY} characters, without a NUL character or a lone surrogate`, {
      field: 'key',
    });
  }
}

function checkPolicy(value: unknown, allowed: readonly string[], field: string): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new BadUserInputError(`${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`, { field });
  }
}

/** An opaque cursor: (key, id) of the last schedule of a page. */
function encodeScheduleCursor(s: Schedule): string {
  return Buffer.from(`schedule:${JSON.stringify([s.key, s.id])}`).toString('base64url');
}

function decodeScheduleCursor(cursor: string): { key: string; id: string } {
  const text = Buffer.from(String(cursor), 'base64url').toString('utf8');
  try {
    if (text.startsWith('schedule:')) {
      const [key, id] = JSON.parse(text.slice(9)) as unknown[];
      if (typeof key === 'string' && typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id)) return { key, id };
    }
  } catch {
    // fall through: not one of ours
  }
  throw new BadUserInputError('after is not a cursor from this API', { field: 'after' });
}

