import type { BulkAction } from '../queue/bulk-actions/types.js';

/**
 * Live bulk-action progress, as the `bulkActionChanged` resolver needs it. The server implements
 * it (src/server/live/bulk-action-hub.ts) over one LISTEN per process and gives each operation
 * the hub as its caller's tenant sees it: another tenant's action is then exactly an unknown one.
 */
export interface BulkActionEvents {
  /**
   * The action's current state, then each newer version (in order, none twice; a burst of
   * batches may be conflated into its newest) until it is DONE or FAILED; then the stream ends.
   * @throws BadUserInputError for a malformed id, NotFoundError for an unknown one (or another tenant's).
   */
  watchBulkAction(id: string): Promise<AsyncIterableIterator<BulkAction>>;
}
