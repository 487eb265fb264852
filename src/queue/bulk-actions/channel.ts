import type { BulkActionStatus } from '../../states.js';
import { BULK_ACTION_STATUSES } from '../../states.js';

/**
 * Every change of a bulk action (created, a batch processed, ended) is announced on this
 * channel as `id:version:status`, by the statement that makes it. The runners listen to start
 * new actions at once; the server's bulkActionChanged subscriptions to read the row.
 */
export const BULK_CHANNEL = 'taskwire_bulk';

export interface BulkActionNotice {
  id: string;
  version: number;
  status: BulkActionStatus;
}

/** The SQL expression of a notice over a row with id, version and status (for pg_notify). */
export const BULK_NOTICE_SQL = `id::text || ':' || version || ':' || status`;

/** A notice from its payload; undefined for one that is not (never sent by taskwire). */
export function decodeBulkNotice(payload: string): BulkActionNotice | undefined {
  const [id, version, status] = payload.split(':');
  if (!id || !version || !(BULK_ACTION_STATUSES as readonly string[]).includes(status ?? '')) return undefined;
  return { id, version: Number(version), status: status as BulkActionStatus };
}
