import type { Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { isDatabaseUnavailable } from '../../errors.js';
import { rescueTasks } from '../sql/rescue-tasks.js';
import type { Backoff, Task } from '../task.js';
import { createPeriodic } from './periodic.js';
import { createListeners, type ObservableRounds } from './rounds.js';

export interface RescuerOptions {
  sql: Sql;
  log: Logger;
  /** Default retention for tasks it finishes, in ms. */
  resultTtlMs: number;
  /** How often to look, in ms (default 15,000). With 30 s leases a dead worker's task is back within ~45 s. */
  intervalMs?: number;
  /** Most tasks per statement (default 1,000). */
  batchSize?: number;
  /** The backoff of a task's definition, for tasks enqueued without their own (as a failed attempt's retry uses). */
  definitionBackoff?: (name: string) => Partial<Backoff> | undefined;
  /**
   * The workers' lease (LEASE_MS): after a restart of the database, or an outage this process saw,
   * the periodic pass rescues nothing for this long, so that live workers renew first
   * (rescueTasks' restartGraceMs; afterOutagesWait).
   */
  leaseMs?: number;
}

export interface Rescuer extends Service, ObservableRounds {
  /**
   * One pass, as the periodic one but without its waits after a database restart or an outage;
   * `now` replaces the clock in tests. Returns the tasks it rescued.
   */
  runOnce(now?: Date): Promise<Task[]>;
  /**
   * Calls `listener` with the tasks of each pass that rescued any, as they are now (RETRYING,
   * FAILED, CANCELLED, or PENDING/RETRYING given back unstarted): what `/metrics` counts, since the
   * worker that ran them is gone and counts nothing. Returns a function that removes it.
   */
  onRescued(listener: (tasks: readonly Task[]) => void): () => void;
}

/** The WorkerLost error of a rescued task's lost attempt; undefined for a task given back unstarted (no attempt made). */
function lostAttempt(task: Task): Task['errors'][number] | undefined {
  const last = task.errors.at(-1);
  return last?.exceptionType === 'WorkerLost' && last.attempt === task.attempts ? last : undefined;
}

/** The worker a rescued task's attempt was lost with; null for a task given back unstarted. */
function lostWorker(task: Task): string | null {
  return lostAttempt(task)?.workerId ?? null;
}

/** What a rescue made of a task: its attempt lost and `retrying`, `failed` or `cancelled`; or `released`, given back unstarted. */
export type RescueResult = 'retrying' | 'failed' | 'cancelled' | 'released';

export function rescueResult(task: Task): RescueResult {
  if (task.status === 'FAILED') return 'failed';
  if (task.status === 'CANCELLED') return 'cancelled';
  return lostAttempt(task) ? 'retrying' : 'released';
}

/** Takes back running tasks whose worker stopped renewing the lease (see rescueTasks). */
export function createRescuer(o: RescuerOptions): Rescuer {
  const batchSize = o.batchSize ?? 1000;
  const listeners = createListeners<readonly Task[]>(o.log, 'a rescued-tasks listener failed');
  const rescue = async (now: Date | null, lockKey: number | null, restartGraceMs: number | null): Promise<Task[]> => {
    const rescued: Task[] = [];
    for (;;) {
      const batch = await rescueTasks(o.sql, { now, limit: batchSize, defaultTtlMs: o.resultTtlMs, lockKey, definitionBackoff: o.definitionBackoff, restartGraceMs });
      rescued.push(...batch);
      if (batch.length < batchSize) break;
    }
    if (rescued.length > 0) {
      // A line per task (as a worker's `task failed` is), so that grepping a task's id finds its
      // rescue, then a summary: the statuses it left them in, and the workers that were lost.
      const byResult: Partial<Record<RescueResult, number>> = {};
      const workers = new Set<string>();
      for (const t of rescued) {
        const result = rescueResult(t);
        const lostWorkerId = lostWorker(t);
        byResult[result] = (byResult[result] ?? 0) + 1;
        if (lostWorkerId !== null) workers.add(lostWorkerId);
        o.log.info({ taskId: t.id, name: t.name, queue: t.queue, attempt: t.attempts, result, status: t.status, lostWorkerId }, 'task rescued');
      }
      o.log.warn({ count: rescued.length, byResult, lostWorkerIds: [...workers].slice(0, 20), ids: rescued.slice(0, 20).map((t) => t.id) }, 'rescued tasks of lost workers');
      listeners.emit(rescued);
    }
    return rescued;
  };
  // Any constant, the same in every taskwire process: one of them rescues at a time.
  const periodicRescue = (): Promise<Task[]> => rescue(null, 0x7a5c_1e02, o.leaseMs ?? null);
  const probe = (): Promise<Task[]> =>
    rescueTasks(o.sql, { now: null, limit: batchSize, defaultTtlMs: o.resultTtlMs, lockKey: 0x7a5c_1e02, definitionBackoff: o.definitionBackoff, restartGraceMs: o.leaseMs ?? null, rollBack: true });
  const periodic = createPeriodic({
    name: 'rescuer',
    intervalMs: o.intervalMs ?? 15_000,
    log: o.log,
    sql: o.sql,
    runOnce: o.leaseMs === undefined ? periodicRescue : afterOutagesWait(o.leaseMs, periodicRescue, probe),
  });
  return {
    ...periodic,
    runOnce: (now) => rescue(now ?? null, null, null),
    onRescued: listeners.add,
  };
}

/**
 * `rescue`, except for one `leaseMs` after the writes a rescue needs went through again following
 * a round that found the database away: then nothing is taken as lost. The restart wait in
 * rescueTasks covers a database that restarted; this covers an outage without a restart (a
 * network cut between the processes and the database, a database refusing connections or writes:
 * a full disk): no worker could renew meanwhile either, and the live ones renew at their next
 * heartbeat once it is back. "Back" is proven by the rescue itself, done and rolled back
 * (`probe`), not by a read: a full disk answers `SELECT 1` while it refuses every renewal, and a
 * wait counted from such a read could end the moment the space came back, before the live
 * workers had renewed. A probe that finds nothing to take proves no write, so the wait starts at
 * the first one that would have taken something (a lease that ran out after an outage is taken one
 * lease late at most) — or ends once probes have found nothing for a whole lease since the last
 * refusal: every lease that was not renewed after it would have run out by then, so none was left
 * unrenewed, and a lease that runs out later is a worker lost later (it waited a lease more, even
 * minutes after the outage, a tester's find). Probes go on during the wait: another refusal starts
 * it again. A process that never lost the database rescues as before, so the tasks of workers cut
 * off alone are taken back in time.
 */
function afterOutagesWait(leaseMs: number, rescue: () => Promise<Task[]>, probe: () => Promise<Task[]>): () => Promise<Task[]> {
  let away = false;
  /** When a round last found the database away (performance.now()). */
  let refusedAt = 0;
  /** When a rolled-back rescue last went through after an outage (performance.now()). */
  let writtenSince: number | undefined;
  const noted = (error: unknown): never => {
    if (isDatabaseUnavailable(error)) {
      away = true;
      refusedAt = performance.now();
      writtenSince = undefined;
    }
    throw error;
  };
  return async () => {
    if (away || writtenSince !== undefined) {
      const wouldTake = await probe().catch(noted);
      if (away) {
        if (wouldTake.length === 0) {
          if (performance.now() - refusedAt < leaseMs) return [];
          // A lease of empty probes since the last refusal: nothing unrenewed is left to wait for.
          away = false;
          return rescue().catch(noted);
        }
        away = false;
        writtenSince = performance.now();
      }
      if (performance.now() - (writtenSince as number) < leaseMs) return [];
      writtenSince = undefined;
    }
    return rescue().catch(noted);
  };
}
