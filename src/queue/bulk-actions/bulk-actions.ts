import type { Sql } from '../../db/client.js';
import { BadUserInputError } from '../../errors.js';
import { BULK_ACTION_KINDS } from '../../states.js';
import type { QueueScope } from '../enqueue.js';
import { normalizeTaskFilter, sqlAnd, taskFilterSql, type TaskFilter } from '../task-filter.js';
import { isUuid, uuidv7 } from '../uuid.js';
import { createBulkAction, getBulkAction } from './sql/create-bulk-action.js';
import type { BulkActions } from './types.js';

/**
 * `queue.bulkActions` for one scope: actions are created as its write tenant (and creator) and act
 * on the tasks its read tenant sees only; `get` treats another tenant's action as unknown.
 */
export function createBulkActions(sql: Sql, scope: QueueScope): BulkActions {
  const tenant = scope.readTenant;
  return {
    async create(kind, input) {
      if (!(BULK_ACTION_KINDS as readonly string[]).includes(kind)) {
        throw new BadUserInputError(`kind must be one of ${BULK_ACTION_KINDS.join(', ')}`, { field: 'kind' });
      }
      const filter = normalizeTaskFilter(input);
      // As listTasks: said once when the filter names the tenant already, twice (nothing) for another one.
      const where = sqlAnd(sql, [taskFilterSql(sql, filter), tenant !== null && filter.tenant !== tenant ? sql`tenant = ${tenant}` : undefined]);
      return createBulkAction(sql, {
        id: uuidv7(),
        tenant: scope.writeTenant,
        createdBy: scope.createdBy,
        kind,
        filterJson: filterAsJson(filter),
        where,
      });
    },
    get: (id) => (isUuid(id) ? getBulkAction(sql, id, tenant) : Promise.resolve(undefined)),
  };
}

/** The filter as stored: JSON, dates as ISO strings. */
function filterAsJson(filter: TaskFilter): Record<string, unknown> {
  return Object.fromEntries(Object.entries(filter).map(([key, value]) => [key, value instanceof Date ? value.toISOString() : value]));
}
