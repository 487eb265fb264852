import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { LIVE_STATUSES, type StatsRead } from '../queue/index.js';

/**
 * The QueueStats fields a count of live tasks answers (src/queue/stats.ts liveQueueStats): one Int
 * per live status, the queue and the oldest pending age. Any other (succeeded, failed, cancelled,
 * total, counts) needs every status counted.
 */
const LIVE_FIELDS: ReadonlySet<string> = new Set(['__typename', 'queue', 'oldestPendingAgeMs', ...LIVE_STATUSES.map((s) => s.toLowerCase())]);

/**
 * The fields of a selection set, through fragment spreads and inline fragments. @skip and @include
 * are not evaluated: a field under them counts as selected (the cheaper read is only missed).
 */
function fieldsOf(set: SelectionSetNode | undefined, fragments: Record<string, FragmentDefinitionNode>, seen = new Set<string>()): FieldNode[] {
  if (!set) return [];
  return set.selections.flatMap((s): FieldNode[] => {
    if (s.kind === Kind.FIELD) return [s];
    if (s.kind === Kind.INLINE_FRAGMENT) return fieldsOf(s.selectionSet, fragments, seen);
    const name = s.name.value;
    if (seen.has(name)) return [];
    seen.add(name);
    return fieldsOf(fragments[name]?.selectionSet, fragments, seen);
  });
}

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
