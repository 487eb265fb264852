import { ResumableConnection, type ResumableSubscription } from './resumable-ws.js';
import { Samples } from './stats.js';
import { VersionTally } from './version-tally.js';

/** The fields the followers ask for: what the checks and the latency need, no more. */
export const TASK_EVENTS = /* GraphQL */ `
  subscription Events($id: ID!, $afterVersion: Int) { taskEvents(id: $id, afterVersion: $afterVersion) { taskId version status at } }`;
export const EVENT_FEED = /* GraphQL */ `
  subscription Feed($after: String) { taskEventFeed(after: $after) { taskId version at cursor } }`;

export interface LogEvent {
  taskId: string;
  version: number;
  status?: string;
  /** ISO-8601 with milliseconds: clock_timestamp() of the statement that wrote the event. */
  at: string;
  cursor?: string;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** What every follower shares: the exactly-once tally, and latency of events it received live. */
export interface FollowerStats {
  tally: VersionTally;
  /** Event `at` → received, ms, for events written after the subscription (re)started. */
  latency: Samples;
  /** The same, only for events received on the first subscription (before any restart). */
  firstRun: Samples;
  /** Events written before the subscription (re)started: replays, not timed. */
  replayed: number;
}

export function createFollowerStats(index: ReadonlyMap<string, number>): FollowerStats {
  return { tally: new VersionTally(index), latency: new Samples(), firstRun: new Samples(), replayed: 0 };
}

function take(stats: FollowerStats, sub: ResumableSubscription | undefined, e: LogEvent, receivedAt: number): boolean {
  if (!stats.tally.record(e.taskId, e.version)) return false;
  const at = Date.parse(e.at);
  if (sub && at >= Math.floor(sub.liveSince)) {
    stats.latency.add(receivedAt - at);
    if (sub.starts === 1) stats.firstRun.add(receivedAt - at);
  } else stats.replayed += 1;
  return true;
}

/**
 * `taskEvents(id, afterVersion)` for each of `ids` on one connection, from version 0; resumed
 * with the last version received. Done once a terminal event came and the stream completed.
 */
export function followTasks(
  conn: ResumableConnection,
  ids: readonly string[],
  stats: FollowerStats,
): { subscriptions: ResumableSubscription[]; started(): boolean } {
  const lasts = new Map<string, number>(ids.map((id) => [id, 0]));
  const subscriptions = ids.map((id) => {
    let terminal = false;
    let sub: ResumableSubscription | undefined;
    sub = conn.subscribe<LogEvent>({
      query: TASK_EVENTS,
      field: 'taskEvents',
      variables: () => ({ id, afterVersion: lasts.get(id) }),
      onEvent: (e, receivedAt) => {
        take(stats, sub, e, receivedAt);
        lasts.set(id, Math.max(lasts.get(id) ?? 0, e.version));
        if (e.status && TERMINAL.has(e.status)) terminal = true;
      },
      finished: () => terminal,
    });
    return sub;
  });
  return { subscriptions, started: () => [...lasts.values()].every((v) => v > 0) };
}

/**
 * `taskEventFeed(after)` on its own connection, from `after`; resumed from the last cursor
 * received. `seen(id)`: whether an event of a task outside the tally came (marker tasks, used as barriers).
 */
export function followFeed(
  conn: ResumableConnection,
  after: string,
  stats: FollowerStats,
): { subscription: ResumableSubscription; seen(taskId: string): boolean } {
  let last = after;
  const others = new Set<string>();
  let sub: ResumableSubscription | undefined;
  sub = conn.subscribe<LogEvent>({
    query: EVENT_FEED,
    field: 'taskEventFeed',
    variables: () => ({ after: last }),
    onEvent: (e, receivedAt) => {
      if (e.cursor) last = e.cursor;
      if (!take(stats, sub, e, receivedAt)) others.add(e.taskId);
    },
    finished: () => false,
  });
  return { subscription: sub, seen: (taskId) => others.has(taskId) };
}
