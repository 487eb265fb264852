import { settledOrRefused, type Sql } from '../../db/client.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { listen, type Listener } from '../events.js';
import { createRoundListeners, type ObservableRounds } from '../maintenance/rounds.js';
import { BULK_CHANNEL, decodeBulkNotice } from './channel.js';
import { listRunningBulkActions } from './sql/create-bulk-action.js';
import { failBulkAction, finishBulkAction, processBulkBatch } from './sql/process-bulk-batch.js';

export interface BulkActionRunnerOptions {
  sql: Sql;
  log: Logger;
  /** Default retention of tasks a cancel finishes, in ms. */
  resultTtlMs: number;
  /** Most tasks per statement (default 500). */
  batchSize?: number;
  /** How often to look for RUNNING actions without a notification, in ms (default 2,000). */
  pollIntervalMs?: number;
  /** Failed rounds in a row after which an action is ended FAILED (default 5). */
  maxFailures?: number;
}

export interface BulkActionRunner extends Service, ObservableRounds {
  /** Works every RUNNING action until none has targets left; returns how many tasks it processed. */
  runOnce(): Promise<number>;
}

/**
 * Runs bulk actions: every worker process has one, and they share the work through SKIP LOCKED
 * (processBulkBatch), so an action goes as fast as the runners together and goes on when one dies.
 * All state is in the database (the remaining targets, the counts), so after a crash any runner
 * resumes where the last committed batch left off. Memory is one batch's parameters: the rows stay
 * in PostgreSQL. A notification on BULK_CHANNEL of a new action starts a round at once; the poll
 * finds what notifications missed.
 */
export function createBulkActionRunner(o: BulkActionRunnerOptions): BulkActionRunner {
  const batchSize = o.batchSize ?? 500;
  const pollIntervalMs = o.pollIntervalMs ?? 2000;
  const maxFailures = o.maxFailures ?? 5;
  const failures = new Map<string, number>();
  const rounds = createRoundListeners(o.log);
  let listener: Listener | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let again = false;
  let started = false;
  let stopped = false;

  /** An action this runner is working: where its next batch may start looking (see processBulkBatch's `after`). */
  interface Working {
    id: string;
    kind: 'CANCEL' | 'RETRY';
    after: string | null;
  }

  /** What one pass did: a batch of every running action, or that action's end. */
  interface Pass {
    processed: number;
    changed: number;
    /** A batch failed (its action is tried again in the next round, and ended FAILED after maxFailures rounds in a row). */
    failed: boolean;
    /** Some action may have targets left: another pass follows. */
    more: boolean;
  }

  /**
   * One batch of each RUNNING action, in turn: a small action created behind a big one is done in
   * a pass or two, not after it (one action at a time, a 10-task cancel waited 34 s behind a
   * 40,000-task one). The list is read again at every pass, so an action created meanwhile joins.
   */
  async function pass(working: Map<string, Working>, failedNow: Set<string>): Promise<Pass> {
    const outcome: Pass = { processed: 0, changed: 0, failed: false, more: false };
    for (const { id, kind } of await listRunningBulkActions(o.sql, 100)) {
      if (!working.has(id) && !failedNow.has(id)) working.set(id, { id, kind, after: null });
    }
    for (const action of [...working.values()]) {
      if (stopped) break;
      try {
        const batch = await processBulkBatch(o.sql, { actionId: action.id, kind: action.kind, limit: batchSize, defaultTtlMs: o.resultTtlMs, after: action.after });
        outcome.processed += batch.processed;
        outcome.changed += batch.changed;
        failures.delete(action.id);
        if (batch.processed > 0) {
          action.after = batch.lastTaskId;
          outcome.more = true;
        } else if (action.after !== null) {
          // Nothing after the hint: look once more from the start (targets another runner skipped, or
          // left by a batch that rolled back) before calling the list empty.
          action.after = null;
          outcome.more = true;
        } else {
          working.delete(action.id);
          await finishBulkAction(o.sql, action.id);
        }
      } catch (error) {
        outcome.failed = true;
        working.delete(action.id);
        failedNow.add(action.id);
        const count = (failures.get(action.id) ?? 0) + 1;
        failures.set(action.id, count);
        o.log.warn({ err: error, action: action.id, failures: count }, 'bulk action batch failed');
        if (count >= maxFailures) {
          failures.delete(action.id);
          await failBulkAction(o.sql, action.id, error instanceof Error ? error.message : String(error)).catch(() => false);
        }
      }
    }
    return outcome;
  }

  /**
   * Passes until every running action's list is empty (or its batches failed this time); how many
   * targets it took. `report` hears of each pass (the service's own rounds: ObservableRounds).
   */
  async function runOnce(report?: (p: Pass) => void): Promise<number> {
    let processed = 0;
    const working = new Map<string, Working>();
    // An action whose batch failed waits for the next runOnce (the poll, or a wake-up): maxFailures
    // counts failed rounds, spaced, not passes in a row.
    const failedNow = new Set<string>();
    for (;;) {
      if (stopped) break;
      const p = await pass(working, failedNow);
      processed += p.processed;
      report?.(p);
      if (!p.more || working.size === 0) break;
    }
    return processed;
  }

  // One round at a time; a wake-up during a round asks for another right after it.
  function kick(): void {
    if (stopped) return;
    if (current) {
      again = true;
      return;
    }
    clearTimeout(timer);
    current = runOnce((p) => rounds.emit({ service: 'bulk-actions', ok: !p.failed, changed: p.changed }))
      .then((n) => {
        if (n > 0) o.log.debug({ processed: n }, 'bulk actions round');
      })
      .catch((error: unknown) => {
        o.log.warn({ err: error }, 'bulk actions round failed');
        rounds.emit({ service: 'bulk-actions', ok: false });
      })
      .finally(() => {
        current = undefined;
        if (again) {
          again = false;
          kick();
        } else schedule();
      });
  }

  function schedule(): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(kick, pollIntervalMs * (0.8 + Math.random() * 0.4));
  }

  return {
    runOnce: () => runOnce(),
    onRound: rounds.onRound,
    async start() {
      if (started) return;
      started = true;
      listener = await listen(o.sql, BULK_CHANNEL, {
        onNotify: (payload) => {
          if (decodeBulkNotice(payload)?.version === 1) kick();
        },
        onListen: () => kick(),
      });
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await listener?.close();
      listener = undefined;
      // Not while the database refuses connections: the batch's statement waits for one (periodic.ts).
      if (current) await settledOrRefused(current, o.sql);
    },
  };
}
