import type { Logger } from '../../logger.js';

/** The background services of a process that work in rounds (each process counts its own). */
export type RoundService = 'rescuer' | 'cleaner' | 'scheduler' | 'bulk-actions';

/**
 * What one round of a background service did: what `/metrics` counts (src/metrics), since the only
 * other trace of these services is a log line when something went wrong. A failed round is one whose
 * work raised (the database away, a statement refused); its warn line says why.
 */
export interface Round {
  service: RoundService;
  ok: boolean;
  /** The cleaner's: expired tasks deleted. */
  deleted?: number;
  /** The scheduler's: occurrences fired (a task each), skipped (overlap SKIP), refused as duplicates (a task existed). */
  fired?: number;
  skipped?: number;
  duplicates?: number;
  /** The bulk-action runner's: tasks its batches changed, cancelled (a running one: its cancellation asked for) or retried. */
  changed?: number;
}

export type RoundListener = (round: Round) => void;

/** A service whose rounds can be observed. */
export interface ObservableRounds {
  /** Calls `listener` after each round the service runs by itself (not its `runOnce()` called directly). Returns a function that removes it. */
  onRound(listener: RoundListener): () => void;
}

/**
 * Listeners of a service's events: `emit` calls each, and a listener that throws is logged with
 * `failed` (and `fields` of the value), never let to stop the service. `add` returns a function
 * that removes the listener.
 */
export function createListeners<T>(log: Logger, failed: string, fields?: (value: T) => Record<string, unknown>): { add(listener: (value: T) => void): () => void; emit(value: T): void } {
  const listeners = new Set<(value: T) => void>();
  return {
    add(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(value) {
      for (const listener of listeners) {
        try {
          listener(value);
        } catch (error) {
          log.warn({ err: error, ...fields?.(value) }, failed);
        }
      }
    },
  };
}

/** The round listeners of one service (createListeners). */
export function createRoundListeners(log: Logger): ObservableRounds & { emit(round: Round): void } {
  const listeners = createListeners<Round>(log, 'a round listener failed', (round) => ({ service: round.service }));
  return { onRound: listeners.add, emit: listeners.emit };
}
