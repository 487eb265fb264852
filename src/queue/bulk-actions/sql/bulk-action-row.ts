import type { Row } from 'postgres';
import type { BulkActionKind, BulkActionStatus } from '../../../states.js';
import type { BulkAction } from '../types.js';

/** A bulk_actions row (columns camelCased by the pool) as the domain type. */
export function toBulkAction(row: Row): BulkAction {
  return {
    id: row.id as string,
    tenant: row.tenant as string,
    createdBy: (row.createdBy as string | null) ?? null,
    kind: row.kind as BulkActionKind,
    status: row.status as BulkActionStatus,
    filter: (row.filter as Record<string, unknown>) ?? {},
    matched: Number(row.matched),
    processed: Number(row.processed),
    changed: Number(row.changed),
    version: Number(row.version),
    createdAt: row.createdAt as Date,
    finishedAt: (row.finishedAt as Date | null) ?? null,
    error: (row.error as string | null) ?? null,
  };
}
