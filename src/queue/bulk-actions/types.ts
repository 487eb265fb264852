import type { BulkActionKind, BulkActionStatus } from '../../states.js';
import type { TaskFilter } from '../task-filter.js';

export type { BulkActionKind, BulkActionStatus };

/**
 * A bulk action (DESIGN.md Part 2 §E): cancelTask or retryTask applied to every task that matched
 * a filter when the action was created, in batches, by the runners of every worker process.
 * `processed` of `matched` tasks were looked at; `changed` of those were cancelled (or had their
 * cancellation requested) or retried, the others had moved to a state the action leaves alone.
 */
export interface BulkAction {
  id: string;
  tenant: string;
  /** The principal that created it; null while auth is off. */
  createdBy: string | null;
  kind: BulkActionKind;
  status: BulkActionStatus;
  /** The filter it was created with, as stored (dates as ISO strings). */
  filter: Readonly<Record<string, unknown>>;
  matched: number;
  processed: number;
  changed: number;
  /** Bumped by every change (each batch, the end), announced on BULK_CHANNEL. */
  version: number;
  createdAt: Date;
  finishedAt: Date | null;
  /** Why it FAILED; null otherwise. */
  error: string | null;
}

/** The bulk actions of a queue, as its scope sees them (`queue.bulkActions`). */
export interface BulkActions {
  /**
   * Fixes the set of tasks matching `filter` now (the scope's tenant's only), in one statement,
   * and returns the action: RUNNING, or DONE at once when nothing matched. The runners do the rest.
   * @throws BadUserInputError for a malformed filter (nothing stored)
   */
  create(kind: BulkActionKind, filter: TaskFilter): Promise<BulkAction>;
  /** The action, or undefined when unknown (or another tenant's, for a scoped queue). */
  get(id: string): Promise<BulkAction | undefined>;
}
