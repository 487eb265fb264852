import { AppError, ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { DEFAULT_TENANT } from '../queue/sql/insert-tasks.js';
import { canonicalTimeZone } from '../queue/schedules/cron.js';
import type { MissedRunPolicy, OverlapPolicy, Queue, Schedule, UpsertScheduleInput } from '../queue/index.js';
import type { Service } from '../service.js';

/**
 * A schedule written beside its task definition: `defineTask({ name, schedule: { cron: '0 3 * * *' }, run })`.
 * Workers upsert it when they start (syncDeclaredSchedules). Only what is written here is the
 * code's: a pause made at run time (API, CLI, dashboard) outlives every deploy.
 */
export interface ScheduleDeclaration {
  /** Unique per tenant (default: the task's name; required when a task declares several schedules). */
  key?: string;
  /** 5 fields (minute first), or 6 with seconds first (`*\/5 * * * * *` = every 5 s). */
  cron: string;
  /** IANA time zone of the cron's wall clock (default `UTC`). */
  timezone?: string;
  /** Positional arguments of each occurrence's task (default []). */
  args?: unknown[];
  /** Keyword arguments of each occurrence's task (default {}). */
  kwargs?: Record<string, unknown>;
  /** Default: the definition's queue, else `default`. */
  queue?: string;
  /** -100..100 (default: the definition's, else 0). */
  priority?: number;
  /** Default: the definition's, else 1. */
  maxAttempts?: number;
  /** Every occurrence's concurrencyKey, so the queue's perKeyConcurrency holds for them (default: none). */
  concurrencyKey?: string;
  /** While the previous task is unfinished: ALLOW another (default) or SKIP the occurrence. */
  overlap?: OverlapPolicy;
  /** Occurrences missed while no scheduler ran: SKIP, RUN_ONCE (default) or RUN_ALL. */
  missed?: MissedRunPolicy;
  /** The tenant the schedule belongs to (default `default`, the tenant of everything while auth is off). */
  tenant?: string;
}

/** A declaration with its defaults filled in, as the worker upserts it. */
export interface DeclaredSchedule {
  key: string;
  tenant: string;
  cron: string;
  timezone: string;
  taskName: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue: string | undefined;
  priority: number | undefined;
  maxAttempts: number | undefined;
  concurrencyKey: string | undefined;
  overlap: OverlapPolicy;
  missed: MissedRunPolicy;
}

/** What a task definition contributes (its name, default queue and priority). */
interface DefinitionDefaults {
  name: string;
  queue?: string | undefined;
  priority?: number | undefined;
}

/**
 * The declarations of one definition, defaults filled in. Checked where they are written (at
 * `defineTask`): a declaration that is not an object, has no cron, or repeats a key throws. The
 * cron and time zone themselves are checked by the core when the worker upserts them (its start
 * fails, naming the schedule).
 * @throws ConfigError (field `schedule…`, e.g. `schedule[1].key`) on a malformed declaration: a
 * mistake in the code that a process loading it stops on (exit 2, one line), not a request's error
 */
export function declaredSchedules(def: DefinitionDefaults, input: ScheduleDeclaration | readonly ScheduleDeclaration[] | undefined): readonly DeclaredSchedule[] {
  if (input === undefined) return [];
  const list = Array.isArray(input) ? (input as readonly ScheduleDeclaration[]) : [input as ScheduleDeclaration];
  const keys = new Set<string>();
  return Object.freeze(
    list.map((d, i) => {
      const field = `schedule${list.length > 1 ? `[${i}]` : ''}`;
      const refuse = (message: string, at = field): ConfigError => new ConfigError(`task ${def.name}: ${message}`, { field: at });
      if (typeof d !== 'object' || d === null) throw refuse(`${field} must be an object such as { cron: '0 3 * * *' }`);
      if (typeof d.cron !== 'string' || d.cron.trim() === '') throw refuse(`${field}.cron must be a cron expression, e.g. '0 3 * * *'`, `${field}.cron`);
      if (list.length > 1 && d.key === undefined) {
        throw refuse(`${field}.key is required when a task declares several schedules (each is stored under its key)`, `${field}.key`);
      }
      const key = d.key ?? def.name;
      if (typeof key !== 'string' || key === '') throw refuse(`${field}.key must be a non-empty string`, `${field}.key`);
      if (keys.has(`${d.tenant ?? DEFAULT_TENANT}\n${key}`)) throw refuse(`${field}: two schedules have the key "${key}"`, `${field}.key`);
      keys.add(`${d.tenant ?? DEFAULT_TENANT}\n${key}`);
      return Object.freeze({
        key,
        tenant: d.tenant ?? DEFAULT_TENANT,
        // Stored trimmed: compared as stored, so a deploy of the same code writes nothing.
        cron: d.cron.trim(),
        // As the core stores it (`europe/paris` as `Europe/Paris`): compared as stored, as the cron.
        timezone: storedTimeZone(d.timezone ?? 'UTC'),
        taskName: def.name,
        args: d.args ?? [],
        kwargs: d.kwargs ?? {},
        queue: d.queue ?? def.queue,
        priority: d.priority ?? def.priority,
        maxAttempts: d.maxAttempts,
        concurrencyKey: d.concurrencyKey,
        overlap: d.overlap ?? 'ALLOW',
        missed: d.missed ?? 'RUN_ONCE',
      });
    }),
  );
}

/** What one sync did, per schedule key (tenant-qualified as `tenant/key` outside `default`). */
export interface ScheduleSyncResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** canonicalTimeZone of a valid zone; anything else as given, for the upsert to refuse naming the field. */
function storedTimeZone(timezone: string): string {
  try {
    return typeof timezone === 'string' ? canonicalTimeZone(timezone) : timezone;
  } catch {
    return timezone;
  }
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Does the stored schedule already say what the code declares? (`paused` is not the code's.) */
function isUpToDate(stored: Schedule, d: DeclaredSchedule): boolean {
  return (
    stored.cron === d.cron &&
    stored.timezone === d.timezone &&
    stored.taskName === d.taskName &&
    stored.overlap === d.overlap &&
    stored.missed === d.missed &&
    sameJson(stored.args, d.args) &&
    sameJson(stored.kwargs, d.kwargs) &&
    (d.queue === undefined || stored.queue === d.queue) &&
    (d.priority === undefined || stored.priority === d.priority) &&
    (d.maxAttempts === undefined || stored.maxAttempts === d.maxAttempts) &&
    stored.concurrencyKey === (d.concurrencyKey ?? null)
  );
}

function toUpsert(d: DeclaredSchedule): UpsertScheduleInput {
  return {
    key: d.key,
    cron: d.cron,
    timezone: d.timezone,
    task: {
      name: d.taskName,
      args: d.args,
      kwargs: d.kwargs,
      ...(d.queue === undefined ? {} : { queue: d.queue }),
      ...(d.priority === undefined ? {} : { priority: d.priority }),
      ...(d.maxAttempts === undefined ? {} : { maxAttempts: d.maxAttempts }),
      ...(d.concurrencyKey === undefined ? {} : { concurrencyKey: d.concurrencyKey }),
    },
    overlap: d.overlap,
    missed: d.missed,
    // No `paused`: an update leaves the schedule's pause as it is (a pause made at run time stays).
  };
}

/**
 * Upserts every schedule declared in `definitions` (defineTask's `schedule`), each in its tenant.
 * One that is stored already as declared is not written at all (many workers starting at once
 * write nothing twice); one that differs is updated without `paused`, so a pause made over the
 * API stays. A schedule no longer declared is left as it is (see docs/schedules.md: deleting is
 * explicit, as a rolling deploy runs old and new code side by side).
 * @throws ConfigError naming the schedule, the task and the field (`schedule.timezone`) when the
 * core refuses a declaration (a cron that does not parse, an unknown time zone, arguments the
 * task's schema refuses): the code is wrong, not a request; the core's error is its cause.
 * Anything else (the database) is thrown as it is.
 */
export async function syncDeclaredSchedules(queue: Queue, definitions: Iterable<{ schedules?: readonly DeclaredSchedule[] }>): Promise<ScheduleSyncResult> {
  const result: ScheduleSyncResult = { created: [], updated: [], unchanged: [] };
  for (const def of definitions) {
    for (const d of def.schedules ?? []) {
      const name = d.tenant === DEFAULT_TENANT ? d.key : `${d.tenant}/${d.key}`;
      const schedules = queue.scoped({ readTenant: d.tenant, writeTenant: d.tenant, createdBy: null }).schedules;
      try {
        const stored = await schedules.get(d.key);
        if (stored && isUpToDate(stored, d)) {
          result.unchanged.push(name);
          continue;
        }
        await schedules.upsert(toUpsert(d));
        (stored ? result.updated : result.created).push(name);
      } catch (error) {
        throw declarationRefused(error, name, d.taskName);
      }
    }
  }
  return result;
}

/** Codes with which the core refuses what a declaration says (its input), as opposed to failing to store it. */
const REFUSALS = new Set(['BAD_USER_INPUT', 'INVALID_ARGUMENTS', 'UNKNOWN_TASK', 'FORBIDDEN']);

/** The core's refusal of a declaration as a ConfigError naming it; any other error unchanged. */
function declarationRefused(error: unknown, name: string, taskName: string): unknown {
  if (!(error instanceof AppError) || !REFUSALS.has(error.code)) return error;
  // The core names the upsert's fields (`timezone`, `task.args[0]`); the declaration has them under `schedule`.
  const field = error.field === undefined ? 'schedule' : `schedule.${error.field.replace(/^task\./, '')}`;
  return new ConfigError(`Schedule "${name}" declared by task ${taskName}: ${error.message}`, { field, cause: error });
}

/** A registry's definitions, as the sync reads them. */
export interface DeclaredSchedulesSource {
  names(): string[];
  get(name: string): { schedules?: readonly DeclaredSchedule[] } | undefined;
}

/**
 * The sync as a service of a worker process, started before the runner and the scheduler: they
 * start with the code's schedules in place. A failed sync stops the process from starting (a bad
 * cron in code is found at deploy). Stopping does nothing.
 */
export function createDeclaredScheduleSync(p: { queue: Queue; registry: DeclaredSchedulesSource; log: Logger }): Service {
  return {
    async start() {
      const definitions = p.registry.names().flatMap((name) => p.registry.get(name) ?? []);
      const result = await syncDeclaredSchedules(p.queue, definitions);
      if (result.created.length + result.updated.length + result.unchanged.length > 0) p.log.info(result, 'declared schedules synced');
    },
    async stop() {},
  };
}
