import type { Sql } from '../../db/client.js';
import { BadUserInputError } from '../../errors.js';
import { queueNameProblem } from '../enqueue.js';
import { isStorableText } from '../json.js';
import { emptyLiveStats, liveQueueStats, queueStats, type LiveQueueStats, type QueueStats } from '../stats.js';
import { TASK_STATUSES, type TaskStatus } from '../states.js';
import { changeQueueSettings, defaultSettings, readQueueSettings, type SettingsChange } from './sql/queue-settings.js';
import type { QueueControl, QueueInfo, QueueLimitsInput, QueueSettings, StatsOf, StatsRead } from './types.js';
import { waitReasons } from './wait-reasons.js';

const MAX_QUEUE = 100;
const MAX_LIMIT = 1_000_000;
const MAX_PER_MS = 86_400_000;

/**
 * Pause, resume and limits (docs/flow-control.md). Settings are deployment-wide (one row per
 * queue name, shared by every tenant); `tenant` scopes the stats and which queues list() shows (null:
 * every tenant's tasks and every configured queue).
 */
export function createQueueControl(sql: Sql, tenant: string | null): QueueControl {
  /**
   * `onlyNamed`: the queues of `settings` alone (one, counted by its own index), else every queue.
   * `read` 'live': the live statuses only (liveQueueStats), listing the same queues as 'all'.
   */
  async function withStats<R extends StatsRead>(settings: readonly QueueSettings[], onlyNamed: boolean, read: R): Promise<QueueInfo<StatsOf<R>>[]> {
    const only = onlyNamed && settings.length === 1 ? settings[0]?.name : undefined;
    const counted: (QueueStats | LiveQueueStats)[] = read === 'live' ? await liveQueueStats(sql, tenant, only) : await queueStats(sql, tenant, only);
    const stats = new Map(counted.map((s) => [s.queue, s]));
    const byName = new Map(settings.map((s) => [s.name, s]));
    // A tenant's list holds the queues its tasks are in: a queue only another tenant uses (and
    // configured) is none of its business, as everywhere else. Unscoped (an admin), every queue.
    const listed = tenant === null ? [...new Set([...byName.keys(), ...stats.keys()])].sort() : [...stats.keys()].sort();
    const names = onlyNamed ? [...byName.keys()] : listed;
    const empty = (name: string): QueueStats | LiveQueueStats => (read === 'live' ? emptyLiveStats(name) : emptyStats(name));
    return names.map((name) => ({ ...(byName.get(name) ?? defaultSettings(name)), stats: (stats.get(name) ?? empty(name)) as StatsOf<R> }));
  }

  async function change<R extends StatsRead>(name: string, c: SettingsChange, notice: 'paused' | 'resumed' | 'limits', read: R): Promise<QueueInfo<StatsOf<R>>> {
    checkName(name);
    const settings = await changeQueueSettings(sql, name, c, notice);
    return (await withStats([settings], true, read))[0] as QueueInfo<StatsOf<R>>;
  }

  // `stats` left out is 'all' (the generics' default): the cast only names that default.
  const all = <R extends StatsRead>(read: R | undefined): R => read ?? ('all' as R);
  return {
    pause: (name, read) => change(name, { paused: true }, 'paused', all(read)),
    resume: (name, read) => change(name, { paused: false }, 'resumed', all(read)),
    setLimits: async (name, limits, read) => change(name, toChange(limits), 'limits', all(read)),
    list: async (read) => withStats(await readQueueSettings(sql, null), false, all(read)),
    async get(name, read) {
      checkName(name, true);
      const [settings] = await readQueueSettings(sql, [name]);
      return (await withStats([settings ?? defaultSettings(name)], true, all(read)))[0] as QueueInfo<StatsOf<NonNullable<typeof read>>>;
    },
    waitReasons: (tasks) => waitReasons(sql, tasks),
  };
}

/**
 * Refuses a name no new task can have. `get` (a read, like a filter) passes `onlyRead`: it checks
 * the text only, so a queue named before enqueue refused such names (" images", "a,b") can still be looked at.
 */
function checkName(name: unknown, onlyRead = false): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_QUEUE || !isStorableText(name)) {
    throw new BadUserInputError(`name must be a queue name: 1 to ${MAX_QUEUE} characters of text`, { field: 'name' });
  }
  if (onlyRead) return;
  // No new task can be in such a queue (enqueue refuses the name: reserved prefixes, edge whitespace,
  // commas, control characters): its settings row would only be listed, for good.
  const problem = queueNameProblem(name);
  if (problem) throw new BadUserInputError(`name ${problem}`, { field: 'name' });
}

function toChange(limits: QueueLimitsInput): SettingsChange {
  // The types say an object; a JavaScript caller may send anything.
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw new BadUserInputError(`limits must be an object such as { concurrency: 5 }; got ${JSON.stringify(limits) ?? typeof limits}`, { field: 'limits' });
  }
  const c: SettingsChange = {};
  if (limits.concurrency !== undefined) c.concurrency = limit(limits.concurrency, MAX_LIMIT, 'limits.concurrency');
  if (limits.perKeyConcurrency !== undefined) c.perKeyConcurrency = limit(limits.perKeyConcurrency, MAX_LIMIT, 'limits.perKeyConcurrency');
  if (limits.rateLimit !== undefined) {
    const rate = limits.rateLimit;
    // max and perMs are one limit: only the whole rateLimit clears (a half-cleared one would hold nothing).
    const clear = 'to clear the rate limit, set rateLimit to null';
    c.rateMax = rate === null ? null : limit(rate.max, MAX_LIMIT, 'limits.rateLimit.max', clear);
    c.ratePerMs = rate === null ? null : limit(rate.perMs, MAX_PER_MS, 'limits.rateLimit.perMs', clear);
  }
  return c;
}

/** `value` checked as 1..max; null only where `clear` is unset (null clears that limit). */
function limit(value: unknown, max: number, field: string, clear?: string): number | null {
  if (value === null && clear === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    const how = clear === undefined ? ', or null to clear it' : ` (${clear})`;
    // A number as written (JSON.stringify says null for NaN and Infinity).
    const got = typeof value === 'number' ? String(value) : JSON.stringify(value);
    throw new BadUserInputError(`${field} must be an integer from 1 to ${max}${how}; got ${got}`, { field });
  }
  return value;
}

function emptyStats(queue: string): QueueStats {
  return { queue, counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>, oldestPendingAgeMs: null };
}
