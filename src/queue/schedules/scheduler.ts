import { settledOrRefused, type Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { TaskCatalog } from '../catalog.js';
import type { Service } from '../../service.js';
import { listen, type Listener } from '../events.js';
import { createRoundListeners, type ObservableRounds } from '../maintenance/rounds.js';
import { uuidv7 } from '../uuid.js';
import { SCHEDULES_CHANNEL } from './channel.js';
import { parseCron, type CronSpec } from './cron.js';
import { planFiring } from './plan.js';
import { fireSchedules, readDueSchedules, readEarliestRun, type DueSchedule, type FireOutcome, type FirePlan } from './sql/fire-schedules.js';
import type { MissedRunPolicy } from './types.js';

export interface SchedulerOptions {
  sql: Sql;
  log: Logger;
  /** Most occurrences one schedule fires at once: RUN_ALL's bound, and a late schedule's per-round bound (default 100). */
  catchUpMax?: number;
  /** Longest sleep between two looks when no notification comes, in ms (default 5,000). */
  pollIntervalMs?: number;
  /** Lateness under which occurrences are not "missed" but fire as usual, in ms (default 60,000). */
  misfireGraceMs?: number;
  /** Most schedules per statement (default 1,000). */
  batchSize?: number;
  /**
   * The tasks this process registers. A schedule whose task is not among them is warned about
   * once per process, and fired all the same (another worker may have the handler; one without it
   * fails the task with UnknownTask). Without a catalog, nothing is checked.
   */
  catalog?: TaskCatalog;
}

/** What one round did. */
export interface SchedulerRound {
  /** Schedules this process claimed and advanced. */
  claimed: number;
  fired: FireOutcome['fired'];
  overlapSkipped: number;
  duplicates: number;
  /** Due schedules another process held or had changed: someone else is on them. */
  contended: number;
  /** Schedules whose stored cron no longer parses (set to never fire, logged). */
  broken: number;
}

export interface Scheduler extends Service, ObservableRounds {
  /** Fires everything due now (`now` replaces the database clock in tests), until nothing is due or all is contended. */
  runOnce(now?: Date): Promise<SchedulerRound>;
}

/**
 * The scheduler: every worker process runs one, with no leader. Exactly-once comes from the
 * statement (fireSchedules), not from who runs it, so any number may race and any may die.
 *
 * It sleeps until the earliest next_run_at, measured on the database clock (the offset between
 * this process's clock and the database's is taken at every read), wakes at once when a
 * schedule is upserted or resumed (NOTIFY on SCHEDULES_CHANNEL), and polls as a fallback.
 */
export function createScheduler(o: SchedulerOptions): Scheduler {
  const catchUpMax = o.catchUpMax ?? 100;
  const pollIntervalMs = o.pollIntervalMs ?? 5_000;
  const graceMs = o.misfireGraceMs ?? 60_000;
  const batchSize = o.batchSize ?? 1_000;
  // Schedules share crons (a thousand `* * * * * *`): one parse each, and one computation per round.
  const specs = new Map<string, CronSpec | Error>();
  // Schedules already warned about (their id and task name): once per process, not per occurrence.
  const warned = new Set<string>();
  const rounds = createRoundListeners(o.log);
  let timer: NodeJS.Timeout | undefined;
  let listener: Listener | undefined;
  let current: Promise<void> | undefined;
  let again = false;
  let started = false;
  let stopped = false;

  function specOf(cron: string, timezone: string): CronSpec | Error {
    const key = `${timezone}\u0000${cron}`;
    let spec = specs.get(key);
    if (spec === undefined) {
      try {
        spec = parseCron(cron, timezone);
      } catch (error) {
        spec = error as Error;
      }
      if (specs.size >= 10_000) specs.clear();
      specs.set(key, spec);
    }
    return spec;
  }

  async function runOnce(now?: Date): Promise<SchedulerRound> {
    const round: SchedulerRound = { claimed: 0, fired: [], overlapSkipped: 0, duplicates: 0, contended: 0, broken: 0 };
    const fixedNow = now ?? null;
    for (;;) {
      const { now: dbNow, due } = await readDueSchedules(o.sql, { limit: batchSize, now: fixedNow });
      if (due.length === 0) break;
      const plans: FirePlan[] = [];
      const memo = new Map<string, ReturnType<typeof planFiring>>();
      for (const s of due) {
        const spec = specOf(s.cron, s.timezone);
        if (spec instanceof Error) {
          // Stored before a rule changed (or a time zone left the ICU data): it can have no next
          // run, and left due it would head every due scan. next_run_at NULL takes it out; an
          // upsert with a good cron brings it back.
          round.broken += 1;
          o.log.error({ scheduleId: s.id, tenant: s.tenant, key: s.key, cron: s.cron, timezone: s.timezone, err: spec }, 'schedule cron no longer parses: it will not fire until it is upserted again');
          plans.push({ scheduleId: s.id, version: s.version, occurrences: [], nextRunAt: null });
          continue;
        }
        const key = `${s.timezone}\u0000${s.cron}\u0000${s.missed}\u0000${s.nextRunAt.getTime()}`;
        let plan = memo.get(key);
        if (!plan) {
          plan = planFiring({ spec, missed: s.missed as MissedRunPolicy, nextRunAt: s.nextRunAt, now: dbNow, graceMs, catchUpMax });
          memo.set(key, plan);
        }
        if (plan.downtime) o.log.info({ scheduleId: s.id, tenant: s.tenant, key: s.key, missed: s.missed, firing: plan.occurrences.length }, 'schedule missed occurrences while no scheduler ran');
        plans.push({
          scheduleId: s.id,
          version: s.version,
          occurrences: plan.occurrences.map((at) => ({ taskId: uuidv7(), scheduledFor: at })),
          nextRunAt: plan.nextRunAt,
        });
      }
      const outcome = await fireSchedules(o.sql, plans, fixedNow);
      warnUnknownTasks(due, outcome);
      round.claimed += outcome.claimed.length;
      round.fired.push(...outcome.fired);
      round.overlapSkipped += outcome.overlapSkipped;
      round.duplicates += outcome.duplicates;
      round.contended += plans.length - outcome.claimed.length;
      if (outcome.overlapSkipped > 0) logOverlapSkips(due, plans, outcome);
      if (outcome.duplicates > 0) o.log.error({ duplicates: outcome.duplicates }, 'schedule occurrences refused by the unique index: a task existed already');
      // Nothing claimed: the rest is another process's, or changed under us; the next round re-reads.
      if (outcome.claimed.length === 0 || due.length < batchSize) break;
    }
    return round;
  }

  /** Names each schedule whose occurrences overlap SKIP consumed without a task (an operator with several needs to know which). */
  function logOverlapSkips(due: readonly DueSchedule[], plans: readonly FirePlan[], outcome: FireOutcome): void {
    const claimed = new Set(outcome.claimed);
    const fired = new Map<string, number>();
    for (const f of outcome.fired) fired.set(f.scheduleId, (fired.get(f.scheduleId) ?? 0) + 1);
    const byId = new Map(due.map((s) => [s.id, s]));
    for (const plan of plans) {
      const s = byId.get(plan.scheduleId);
      if (!s || s.overlap !== 'SKIP' || !claimed.has(plan.scheduleId)) continue;
      const skipped = plan.occurrences.length - (fired.get(plan.scheduleId) ?? 0);
      if (skipped > 0) o.log.info({ scheduleId: s.id, tenant: s.tenant, key: s.key, skipped }, 'schedule occurrences skipped: previous task unfinished (overlap SKIP)');
    }
  }

  /**
   * Warns once per schedule (and task name: an upsert may name another) when this process fired
   * tasks it has no definition for: nothing else says so before they fail. It fires them all the
   * same: workers with other TASK_MODULES than this process's may have the handler.
   */
  function warnUnknownTasks(due: readonly DueSchedule[], outcome: FireOutcome): void {
    if (!o.catalog || outcome.fired.length === 0) return;
    const fired = new Set(outcome.fired.map((f) => f.scheduleId));
    for (const s of due) {
      const seen = `${s.id}\u0000${s.taskName}`;
      if (!fired.has(s.id) || warned.has(seen) || o.catalog.get(s.taskName)) continue;
      if (warned.size >= 10_000) warned.clear();
      warned.add(seen);
      o.log.warn(
        { scheduleId: s.id, tenant: s.tenant, key: s.key, taskName: s.taskName },
        `schedule "${s.key}" fires task "${s.taskName}", which this process has no definition of: a worker without one fails its tasks at once ` +
          '(UnknownTask); load it (TASK_MODULES) or delete the schedule',
      );
    }
  }

  /** Runs a round and sleeps until the earliest next_run_at (at most pollIntervalMs). */
  async function cycle(): Promise<void> {
    let delay = pollIntervalMs;
    try {
      const round = await runOnce();
      if (round.fired.length > 0) o.log.debug({ fired: round.fired.length }, 'schedules fired');
      rounds.emit({ service: 'scheduler', ok: true, fired: round.fired.length, skipped: round.overlapSkipped, duplicates: round.duplicates });
      const sent = Date.now();
      const { now, earliest } = await readEarliestRun(o.sql);
      // The database clock minus ours, taken at the midpoint of the round trip.
      const offset = now.getTime() - (sent + Date.now()) / 2;
      if (earliest !== null) {
        const untilDue = earliest.getTime() - (Date.now() + offset);
        // Still due: another process holds it (its statement is about to commit); look again shortly.
        delay = Math.min(pollIntervalMs, untilDue <= 0 ? 50 : untilDue + 2);
      }
    } catch (error) {
      o.log.warn({ err: error }, 'scheduler round failed');
      rounds.emit({ service: 'scheduler', ok: false });
    }
    schedule(delay);
  }

  function schedule(delay: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(wake, delay);
  }

  function wake(): void {
    if (stopped) return;
    if (current) {
      again = true;
      return;
    }
    clearTimeout(timer);
    current = cycle().finally(() => {
      current = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  }

  return {
    runOnce,
    onRound: rounds.onRound,
    async start() {
      if (started) return;
      started = true;
      listener = await listen(o.sql, SCHEDULES_CHANNEL, {
        onNotify: () => wake(),
        // (Re)connected: a notification may have been missed meanwhile.
        onListen: () => wake(),
      });
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // Not while the database refuses connections: the round's statement waits for one (periodic.ts).
      if (current) await settledOrRefused(current, o.sql);
      await listener?.close();
      listener = undefined;
    },
  };
}
