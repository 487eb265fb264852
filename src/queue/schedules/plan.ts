import type { MissedRunPolicy } from './types.js';
import { latestOccurrences, nextOccurrence, occurrenceAtOrAfter, type CronSpec } from './cron.js';

export interface PlanInput {
  spec: CronSpec;
  missed: MissedRunPolicy;
  /** The schedule's stored next_run_at (due: at or before `now`). */
  nextRunAt: Date;
  /** The database clock. */
  now: Date;
  /** Lateness up to which occurrences are not "missed" but fire as usual (see SchedulerOptions.misfireGraceMs). */
  graceMs: number;
  /** Most occurrences fired for one schedule at once (SCHEDULE_CATCH_UP_MAX). */
  catchUpMax: number;
}

export interface Plan {
  /** Occurrences to enqueue a task for, oldest first. */
  occurrences: Date[];
  /** The new next_run_at: still at or before `now` only when `catchUpMax` cut an on-time backlog short. */
  nextRunAt: Date | null;
  /** The schedule was further behind than the grace: the `missed` policy decided. */
  downtime: boolean;
}

/**
 * What a due schedule fires, decided from its cron alone (fireSchedules makes it happen, once).
 *
 * A schedule whose next_run_at is at most `graceMs` behind the clock is merely late (a busy
 * process, a restart, a scheduler that took over from a killed one): each of its occurrences up
 * to now fires, oldest first, at most `catchUpMax` at a time, and next_run_at moves to the
 * following one, so nothing is lost. Further behind, the scheduler was down and `missed` decides:
 * SKIP fires none, RUN_ONCE one for the latest missed occurrence, RUN_ALL the latest `catchUpMax`
 * of them, oldest first; next_run_at then moves to the first occurrence after now.
 */
export function planFiring(p: PlanInput): Plan {
  const first = occurrenceAtOrAfter(p.spec, p.nextRunAt);
  if (first === null) return { occurrences: [], nextRunAt: null, downtime: false };
  if (first.getTime() > p.now.getTime()) return { occurrences: [], nextRunAt: first, downtime: false };
  if (p.now.getTime() - first.getTime() <= p.graceMs) {
    const occurrences: Date[] = [first];
    let next = nextOccurrence(p.spec, first);
    while (next !== null && next.getTime() <= p.now.getTime() && occurrences.length < p.catchUpMax) {
      occurrences.push(next);
      next = nextOccurrence(p.spec, next);
    }
    return { occurrences, nextRunAt: next, downtime: false };
  }
  const nextRunAt = nextOccurrence(p.spec, p.now);
  switch (p.missed) {
    case 'SKIP':
      return { occurrences: [], nextRunAt, downtime: true };
    case 'RUN_ONCE':
      return { occurrences: latestOccurrences(p.spec, p.now, first, 1), nextRunAt, downtime: true };
    case 'RUN_ALL': {
      const occurrences = latestOccurrences(p.spec, p.now, first, p.catchUpMax);
      return { occurrences, nextRunAt, downtime: true };
    }
  }
}
