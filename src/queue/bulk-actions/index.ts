/** Bulk actions (issue 15, DESIGN.md Part 2 §E): cancelTasks / retryTasks over a fixed set of tasks. */
export { createBulkActions } from './bulk-actions.js';
export { BULK_CHANNEL, decodeBulkNotice, type BulkActionNotice } from './channel.js';
export { createBulkActionRunner, type BulkActionRunner, type BulkActionRunnerOptions } from './runner.js';
export type { BulkAction, BulkActionKind, BulkActions, BulkActionStatus } from './types.js';
