import type { Sql } from '../../db/client.js';
import { BadUserInputError } from '../../errors.js';
import { queueNameProblem } from '../enqueue.js';
import { isStorableText } from '../json.js';
import { queueStats, type QueueStats } from '../stats.js';
import { TASK_STATUSES, type TaskStatus } from '../states.js';
import { changeQueueSettings, defaultSettings, readQueueSettings, type SettingsChange } from './sql/queue-settings.js';
import type { QueueControl, QueueInfo, QueueLimitsInput, QueueSettings } from './types.js';
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
  /** `onlyNamed`: the queues of `settings` alone (one, counted by its own index), else every queue. */
  async function withStats(settings: readonly QueueSettings[], onlyNamed: boolean): Promise<QueueInfo[]> {
    const only = onlyNamed && settings.length === 1 ? settings[0]?.name : undefined;
    const stats = new Map((await queueStats(sql, tenant, only)).map((s) => [s.queue, s]));
    const byName = new Map(settings.map((s) => [s.name, s]));
    // A tenant's list holds the queues its tasks are in: a queue only another tenant uses (and
    // configured) is none of its business, as everywhere else. Unscoped (an admin), every queue.
    const listed = tenant === null ? [...new Set([...byName.keys(), ...stats.keys()])].sort() : [...stats.keys()].sort();
    const names = onlyNamed ? [...byName.keys()] : listed;
    return names.map((name) => ({ ...(byName.get(name) ?? defaultSettings(name)), stats: stats.get(name) ?? emptyStats(name) }));
  }

  async function change(name: string, c: SettingsChange, notice: 'paused' | 'resumed' | 'limits'): Promise<QueueInfo> {
    checkName(name);
    const settings = await changeQueueSettings(sql, name, c, notice);
    return (await withStats([settings], true))[0] as QueueInfo;
  }

  return {
    pause: (name) => change(name, { paused: true }, 'paused'),
    resume: (name) => change(name, { paused: false }, 'resumed'),
    setLimits: async (name, limits) => change(name, toChange(limits), 'limits'),
    list: async () => withStats(await readQueueSettings(sql, null), false),
    async get(name) {
      checkName(name, true);
      const [settings] = await readQueueSettings(sql, [name]);
      return (await withStats([settings ?? defaultSettings(name)], true))[0] as QueueInfo;
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
    throw new BadUserInputError(`${field} must be an integer from 1 to ${max}${how}; got ${JSON.stringify(value)}`, { field });
  }
  return value;
}

function emptyStats(queue: string): QueueStats {
  return { queue, counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>, oldestPendingAgeMs: null };
}
