import type { Sql } from '../../db/client.js';
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
  // Whether an action's batch failed in the round under way (runOnce goes on with the other actions).
  let batchFailed = false;
  let listener: Listener | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let again = false;
  let started = false;
  let stopped = false;

  /** Works one action to its end; `committed` hears of each batch's tasks as it commits (a later batch may fail). */
  async function runAction(id: string, kind: 'CANCEL' | 'RETRY', committed: (tasks: number) => void): Promise<void> {
    let after: string | null = null;
    while (!stopped) {
      const batch = await processBulkBatch(o.sql, { actionId: id, kind, limit: batchSize, defaultTtlMs: o.resultTtlMs, after });
      committed(batch.processed);
      if (batch.processed > 0) after = batch.lastTaskId;
      // Nothing after the hint: look once more from the start (targets another runner skipped, or
      // left by a batch that rolled back) before calling the list empty.
      else if (after !== null) after = null;
      else break;
    }
    if (!stopped) await finishBulkAction(o.sql, id);
  }

  async function runOnce(): Promise<number> {
    let processed = 0;
    for (const { id, kind } of await listRunningBulkActions(o.sql, 100)) {
      if (stopped) break;
      try {
        await runAction(id, kind, (tasks) => (processed += tasks));
        failures.delete(id);
      } catch (error) {
        batchFailed = true;
        const count = (failures.get(id) ?? 0) + 1;
        failures.set(id, count);
        o.log.warn({ err: error, action: id, failures: count }, 'bulk action batch failed');
        if (count >= maxFailures) {
          failures.delete(id);
          await failBulkAction(o.sql, id, error instanceof Error ? error.message : String(error)).catch(() => false);
        }
      }
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
    batchFailed = false;
    current = runOnce()
      .then((n) => {
        if (n > 0) o.log.debug({ processed: n }, 'bulk actions round');
        rounds.emit({ service: 'bulk-actions', ok: !batchFailed, processed: n });
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
    runOnce,
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
      await current;
    },
  };
}
