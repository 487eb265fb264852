/**
 * Some of (i)'s followers in a process of their own (bench/scenarios/event-log.ts):
 * `node --import tsx bench/lib/event-followers-child.ts`, forked with `serialization: 'advanced'`
 * (samples travel as Float64Arrays). It sends 'ready' once loaded, then:
 * - 'follow' {url, ids, taskLists, feeds, startCursor}: one connection per task list, each holding
 *   `taskEvents(afterVersion: 0)` on its tasks, and `feeds` connections each on `taskEventFeed` from
 *   `startCursor`; the feeds' tallies cover `ids`. Answers 'following'.
 * - 'poll' {marker}: 'poll', how far its followers are (see FollowersPoll).
 * - 'failover' {url}: every connection goes there once its socket closes; answers 'failover' with
 *   how many have streams open (those are to resume).
 * - 'finish' {tasks, feed}: the logs' versions (ExpectedRows); answers 'finished' with the checks,
 *   the latency samples and its event loop's delay since 'follow'.
 * - 'exit': closes its connections and exits.
 */
import { errorText } from './child-ipc.js';
import { createFollowerStats, followFeed, followTasks, type FollowerStats } from './event-followers.js';
import { watchLoopDelay, type LoopDelay } from './loop-delay.js';
import { ResumableConnection } from './resumable-ws.js';
import { rangesOf, type ExpectedRows, type TallyCheck } from './version-tally.js';

export type FollowersRequest =
  | { type: 'follow'; url: string; ids: string[]; taskLists: string[][]; feeds: number; startCursor: string }
  | { type: 'poll'; marker: string | null }
  | { type: 'failover'; url: string }
  | { type: 'finish'; tasks: ExpectedRows; feed: ExpectedRows }
  | { type: 'exit' };

/** How far one process's followers are. */
export interface FollowersPoll {
  type: 'poll';
  /** The first failure of any connection (a GraphQL error, an early end, an unarranged close). */
  error: string | null;
  /** Every taskEvents subscription replayed ENQUEUED. */
  started: boolean;
  /** Every feed received an event of the marker task (false without a marker). */
  seenMarker: boolean;
  /** Every taskEvents stream ended after its terminal event. */
  tasksDone: boolean;
  /** Events received by every follower (taskEvents and feeds), live and replayed. */
  received: number;
  taskEvents: number;
  openTaskStreams: number;
  /** Events each feed received. */
  feeds: number[];
  /** Every connection that was to resume saw its socket close. */
  lost: boolean;
}

export interface FollowersFinished {
  type: 'finished';
  taskCheck: TallyCheck;
  feedChecks: TallyCheck[];
  taskReplayed: number;
  feedReplayed: number;
  taskLatency: Float64Array;
  taskFirstRun: Float64Array;
  feedLatency: Float64Array;
  feedFirstRun: Float64Array;
  /** Latest first event after the restart over the resuming connections; null if none resumed. */
  backAt: number | null;
  /** Each resuming connection's restart, wall-clock ms: its close seen, its new socket's connection_ack, its first event after it. */
  restarts: RestartTimes[];
  loopDelay: { p50: number; p99: number; max: number };
}

export interface RestartTimes {
  kind: 'taskEvents' | 'feed';
  lostAt: number | null;
  ackedAt: number | null;
  backAt: number | null;
}

export type FollowersReply = { type: 'ready' } | { type: 'following' } | FollowersPoll | { type: 'failover'; resuming: number } | FollowersFinished | { type: 'error'; error: string };

const send = (reply: FollowersReply): void => {
  process.send?.(reply);
};

const connections: ResumableConnection[] = [];
const feedConnections = new Set<ResumableConnection>();
let resuming: ResumableConnection[] = [];
let taskStats: FollowerStats | undefined;
let taskFollowers: ReturnType<typeof followTasks>[] = [];
const feedStats: FollowerStats[] = [];
let feedFollowers: ReturnType<typeof followFeed>[] = [];
let loop: LoopDelay | undefined;

function follow(r: Extract<FollowersRequest, { type: 'follow' }>): void {
  const watched = r.taskLists.flat();
  const stats = createFollowerStats(new Map(watched.map((id, i) => [id, i])));
  taskStats = stats;
  taskFollowers = r.taskLists.map((ids) => {
    const conn = new ResumableConnection(r.url);
    connections.push(conn);
    return followTasks(conn, ids, stats);
  });
  const index = new Map(r.ids.map((id, i) => [id, i]));
  feedFollowers = Array.from({ length: r.feeds }, () => {
    const conn = new ResumableConnection(r.url);
    connections.push(conn);
    feedConnections.add(conn);
    const s = createFollowerStats(index);
    feedStats.push(s);
    return followFeed(conn, r.startCursor, s);
  });
  loop = watchLoopDelay();
  send({ type: 'following' });
}

function poll(marker: string | null): FollowersPoll {
  const failed = connections.find((c) => c.error)?.error;
  const taskEvents = taskStats?.tally.received ?? 0;
  const feeds = feedStats.map((s) => s.tally.received);
  return {
    type: 'poll',
    error: failed ? errorText(failed) : null,
    started: taskFollowers.every((f) => f.started()),
    seenMarker: marker !== null && feedFollowers.every((f) => f.seen(marker)),
    tasksDone: taskFollowers.every((f) => f.subscriptions.every((s) => s.done)),
    received: taskEvents + feeds.reduce((a, b) => a + b, 0),
    taskEvents,
    openTaskStreams: taskFollowers.reduce((k, f) => k + f.subscriptions.filter((x) => !x.done).length, 0),
    feeds,
    lost: resuming.every((c) => c.lostAt !== undefined),
  };
}

function finish(r: Extract<FollowersRequest, { type: 'finish' }>): FollowersFinished {
  const stats = taskStats;
  if (!stats) throw new Error('finish before follow');
  const taskCheck = stats.tally.check({ ranges: rangesOf(r.tasks, stats.tally.index) });
  const feedRanges = feedStats[0] ? rangesOf(r.feed, feedStats[0].tally.index) : new Map<number, [number, number]>();
  const feedChecks = feedStats.map((s) => s.tally.check({ ranges: feedRanges }));
  const merge = (pick: (s: FollowerStats) => Float64Array): Float64Array => {
    const parts = feedStats.map(pick);
    const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const back = resuming.flatMap((c) => c.backAt ?? []);
  return {
    type: 'finished',
    taskCheck,
    feedChecks,
    taskReplayed: stats.replayed,
    feedReplayed: feedStats.reduce((n, s) => n + s.replayed, 0),
    taskLatency: stats.latency.values(),
    taskFirstRun: stats.firstRun.values(),
    feedLatency: merge((s) => s.latency.values()),
    feedFirstRun: merge((s) => s.firstRun.values()),
    backAt: back.length > 0 ? Math.max(...back) : null,
    restarts: resuming.map((c) => ({
      kind: feedConnections.has(c) ? 'feed' : 'taskEvents',
      lostAt: c.lostAt ?? null,
      ackedAt: c.ackedAt ?? null,
      backAt: c.backAt ?? null,
    })),
    loopDelay: (loop ?? watchLoopDelay()).stop(),
  };
}

process.on('message', (raw) => {
  const request = raw as FollowersRequest;
  try {
    if (request.type === 'follow') follow(request);
    else if (request.type === 'poll') send(poll(request.marker));
    else if (request.type === 'failover') {
      for (const c of connections) c.failoverTo(request.url);
      // A connection whose streams all ended before the kill has nothing to resume.
      resuming = connections.filter((c) => c.openCount > 0);
      send({ type: 'failover', resuming: resuming.length });
    } else if (request.type === 'finish') send(finish(request)); else void Promise.allSettled(connections.map((c) => c.dispose())).then(() => process.exit(0));
  } catch (error) {
    send({ type: 'error', error: errorText(error) });
  }
});
send({ type: 'ready' });
