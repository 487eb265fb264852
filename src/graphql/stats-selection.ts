import type { GraphQLResolveInfo } from 'graphql';
import { LIVE_STATUSES, type StatsRead } from '../queue/index.js';
import { fieldsOf } from './selection.js';

/**
 * The QueueStats fields a count of live tasks answers (src/queue/stats.ts liveQueueStats): one Int
 * per live status, the queue and the oldest pending age. Any other (succeeded, failed, cancelled,
 * total, counts) needs every status counted.
 */
const LIVE_FIELDS: ReadonlySet<string> = new Set(['__typename', 'queue', 'oldestPendingAgeMs', ...LIVE_STATUSES.map((s) => s.toLowerCase())]);

/**
 * Which stats a field returning Queue (or a list of them) must read, from the operation's selection:
 * 'live' when no `stats` asks for more than LIVE_FIELDS (the dashboard's queue panel asks pending,
 * retrying and running every 5 s: counting the whole history for them was a scan of the table, 0.6–1 s
 * at a million tasks), else 'all'. One read either way: the fields of one answer never mix two reads.
 */
export function queueStatsRead(info: GraphQLResolveInfo): StatsRead {
  for (const node of info.fieldNodes) {
    for (const queueField of fieldsOf(node.selectionSet, info.fragments)) {
      if (queueField.name.value !== 'stats') continue;
      if (fieldsOf(queueField.selectionSet, info.fragments).some((f) => !LIVE_FIELDS.has(f.name.value))) return 'all';
    }
  }
  return 'live';
}
