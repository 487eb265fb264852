import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { compareFeedPositions, readFeed, type FeedEvent } from '../../../src/queue/event-feed.js';
import type { FeedPosition } from '../../../src/queue/event-log.js';
import type { Queue } from '../../../src/queue/index.js';
import { createFeedFanout } from '../../../src/server/live/feed-fanout.js';
import type { EventLogFanoutStats } from '../../../src/server/live/log-fanout.js';
import { createQueueTestApp, type QueueTestApp } from '../../helpers/factories.js';
import { waitFor } from '../../helpers/wait.js';

// The feed's fan-out (src/server/live/feed-fanout.ts) on the real database: subscribers behind the
// tail share one catch-up reader, and each still gets every event after its own position, once,
// in feed order.
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp();
});
afterAll(async () => {
  await app.close();
});

const FUTURE = (): Date => new Date(Date.now() + 3_600_000);
const key = (e: FeedEvent): string => `${e.position.tx}:${e.position.seq}`;

/** The real queue's feed, its reads counted, and failing on demand (the database away). */
function countingQueue(): {
  queue: Pick<Queue, 'readFeed' | 'feedEnd'>;
  reads: () => number;
  readsDone: () => number;
  ends: () => number;
  failNext(n: number): void;
  failNextEnds(n: number): void;
} {
  let reads = 0;
  let ends = 0;
  let endFailures = 0;
  let done = 0;
  let failures = 0;
  return {
    queue: {
      readFeed: async (p) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('connection refused');
        }
        reads += 1;
        const page = await app.deps.queue.readFeed(p);
        done += 1;
        return page;
      },
      feedEnd: async () => {
        ends += 1;
        if (endFailures > 0) {
          endFailures -= 1;
          throw new Error('connection refused');
        }
        return app.deps.queue.feedEnd();
      },
    },
    reads: () => reads,
    readsDone: () => done,
    ends: () => ends,
    failNext(n) {
      failures = n;
    },
    failNextEnds(n) {
      endFailures = n;
    },
  };
}

const newStats = (): EventLogFanoutStats => ({ logReads: 0, feedReads: 0, delivered: 0, subscriptions: 0, feedHeldSince: null });

/**
 * `n` tasks enqueued (up to 5,000 a statement) that never run, and their n ENQUEUED events as the
 * feed has them, once all are readable. Why not "the feed after feedEnd()": the horizon is
 * cluster-wide, so a transaction of another test file's database can hold it back — or place
 * feedEnd() before events of this file's previous test.
 */
async function writeEvents(n: number): Promise<FeedEvent[]> {
  const start = await app.deps.queue.feedEnd();
  const ids = new Set<string>();
  for (let from = 0; from < n; from += 5000) {
    const batch = Array.from({ length: Math.min(5000, n - from) }, (_, i) => ({ name: 'demo.echo', args: [from + i], runAfter: FUTURE() }));
    for (const t of await app.deps.queue.enqueueMany(batch)) ids.add(t.id);
  }
  return waitFor(
    async () => {
      const ours = (await feedAfter(start)).filter((e) => ids.has(e.taskId));
      return ours.length === n ? ours : undefined;
    },
    { message: `the ${n} events to be readable` },
  );
}

/** Every event after `from`, read directly. */
async function feedAfter(from: FeedPosition): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  let position = from;
  for (;;) {
    const page = await readFeed(app.sql, { after: position, limit: 1000 });
    events.push(...page.events);
    position = page.position;
    if (!page.full) return events;
  }
}

/** `stream` gets the next event written after it, as a follower of the fan-out's tail does. */
async function expectFollowsTail(fanout: ReturnType<typeof createFeedFanout>, stream: AsyncIterator<FeedEvent>): Promise<void> {
  const more = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['after'], runAfter: FUTURE() });
  fanout.poke();
  expect((await take(stream, 1))[0]?.taskId).toBe(more.id);
}

/** The next `n` values of a stream, failing after `timeoutMs` instead of hanging. */
async function take(stream: AsyncIterator<FeedEvent>, n: number, timeoutMs = 20_000): Promise<FeedEvent[]> {
  const got: FeedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out with ${got.length} of ${n} events`)), timeoutMs);
  });
  try {
    while (got.length < n) {
      const step = await Promise.race([stream.next(), timeout]);
      if (step.done) throw new Error(`the stream ended after ${got.length} of ${n} events`);
      got.push(step.value);
    }
    return got;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A subscriber follows the tail for a while, then leaves (the tail stays where it was); 3,001 events
 * later (4 pages of the feed) a feed resumes from a cursor near the end, as a client of a server that
 * died would on this one. `beforeResume` runs just before that resume. The reads are counted from it.
 */
async function resumeAfterLastFollowerLeft(
  counting: ReturnType<typeof countingQueue>,
  fanout: ReturnType<typeof createFeedFanout>,
  beforeResume: () => void = () => undefined,
): Promise<{ all: FeedEvent[]; resumed: AsyncIterableIterator<FeedEvent>; reads: () => number; ends: () => number }> {
  const first = await fanout.watch({}, null);
  const early = await writeEvents(1);
  fanout.poke();
  expect((await take(first, 1))[0]?.taskId).toBe(early[0]?.taskId);
  await first.return?.();
  const all = await writeEvents(3001);
  const readsBefore = counting.reads();
  const endsBefore = counting.ends();
  beforeResume();
  const resumed = await fanout.watch({}, all[2999]!.position);
  expect((await take(resumed, 1)).map(key)).toEqual([key(all[3000]!)]);
  await waitFor(() => (counting.readsDone() === counting.reads() ? true : undefined), { message: 'the reads under way to end' });
  return { all, resumed, reads: () => counting.reads() - readsBefore, ends: () => counting.ends() - endsBefore };
}

describe('createFeedFanout', () => {
  it('serves subscribers resuming at 8 different cursors with one reader: every event after each cursor once, in order, the same objects', async () => {
    const all = await writeEvents(2501);
    const counting = countingQueue();
    const fanout = createFeedFanout({ queue: counting.queue, log: silentLogger, stats: newStats() });
    try {
      // Cursors 0, 250, … 1750 events in (after the first); the lowest first, the rest while it reads.
      const cursors = Array.from({ length: 8 }, (_, i) => (all[i * 250] as FeedEvent).position);
      const lowest = await fanout.watch({}, cursors[0]!);
      const streams = [lowest, ...(await Promise.all(cursors.slice(1).map((c) => fanout.watch({}, c))))];
      const got = await Promise.all(streams.map((s, i) => take(s, 2500 - i * 250)));
      got.forEach((events, i) => expect(events.map(key)).toEqual(all.slice(i * 250 + 1).map(key)));
      // Each reading on its own would have taken 3+3+2+2+2+2+1+1 = 16 reads (and 16 objects per event).
      expect(counting.reads()).toBeLessThanOrEqual(7);
      const first = new Map(got[0]!.map((e) => [key(e), e]));
      for (const events of got.slice(1)) for (const e of events) expect(e).toBe(first.get(key(e)));
    } finally {
      fanout.close();
    }
  });

  it('drops a subscriber that stops reading (its queue full) and lets it catch up with nothing missing once it reads again', async () => {
    const written = await writeEvents(6501); // over a stream's 5,000 queued events
    const [first, ...all] = written as [FeedEvent, ...FeedEvent[]];
    const fanout = createFeedFanout({ queue: countingQueue().queue, log: silentLogger, stats: newStats() });
    try {
      const [slow, fast] = await Promise.all([fanout.watch({}, first.position), fanout.watch({}, first.position)]);
      expect((await take(fast!, all.length)).map(key)).toEqual(all.map(key));
      expect((await take(slow!, all.length)).map(key)).toEqual(all.map(key));
      // Caught up again: a new event reaches both.
      const more = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['more'], runAfter: FUTURE() });
      fanout.poke();
      for (const s of [slow!, fast!]) expect((await take(s, 1))[0]?.taskId).toBe(more.id);
    } finally {
      fanout.close();
    }
  });

  it('follows the tail through full pages: a caught-up subscriber gets a burst of 2,500 events once each, in order', async () => {
    const fanout = createFeedFanout({ queue: countingQueue().queue, log: silentLogger, stats: newStats() });
    try {
      const stream = await fanout.watch({}, null);
      const all = await writeEvents(2500);
      fanout.poke();
      // "Now" may reach back before the burst (the horizon is cluster-wide): only the burst is checked.
      const ids = new Set(all.map((e) => e.taskId));
      const got: FeedEvent[] = [];
      while (got.length < all.length) got.push(...(await take(stream, 1)).filter((e) => ids.has(e.taskId)));
      expect(got.map(key)).toEqual(all.map(key));
    } finally {
      fanout.close();
    }
  });

  it('keeps catching up while reads fail (the database away), from where each subscriber stood', async () => {
    const all = await writeEvents(1500);
    const counting = countingQueue();
    counting.failNext(2);
    const fanout = createFeedFanout({ queue: counting.queue, log: silentLogger, stats: newStats() });
    try {
      const streams = await Promise.all([fanout.watch({}, all[0]!.position), fanout.watch({}, (all[700] as FeedEvent).position)]);
      expect((await take(streams[0]!, 1499)).map(key)).toEqual(all.slice(1).map(key));
      expect((await take(streams[1]!, 799)).map(key)).toEqual(all.slice(701).map(key));
    } finally {
      fanout.close();
    }
  });

  it('fails a subscriber whose position PostgreSQL refuses, with BAD_USER_INPUT naming after, instead of stalling the read it shares with the others', async () => {
    const all = await writeEvents(300);
    const stats = newStats();
    const fanout = createFeedFanout({ queue: countingQueue().queue, log: silentLogger, stats });
    try {
      // Lowest of all (the oldest transaction), so the shared catch-up read starts from it; its
      // seq (1e19) is above bigint's max. decodeFeedCursor refuses such a cursor: this is the
      // fan-out's own guard, for a position that reaches it all the same.
      const bad = await fanout.watch({}, { tx: '1', seq: 1e19 });
      const failed = bad.next();
      failed.catch(() => undefined);
      const good = await fanout.watch({}, all[0]!.position);
      // Before: the read failed, was retried every 500 ms for ever, and the good one got nothing.
      expect((await take(good, 299, 10_000)).map(key)).toEqual(all.slice(1).map(key));
      const outcome = await Promise.race([failed.then(() => 'ended', (error: unknown) => error), new Promise((resolve) => setTimeout(() => resolve('still open'), 2000).unref())]);
      expect(outcome).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      expect(stats.subscriptions).toBe(1);
      // Still following the feed: a new event reaches the good one.
      const more = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['more'], runAfter: FUTURE() });
      fanout.poke();
      expect((await take(good, 1))[0]?.taskId).toBe(more.id);
    } finally {
      fanout.close();
    }
  });

  it('never moves the tail past a subscriber that joined while another one was starting (two starting at once)', async () => {
    // The first feedEnd() waits for the gate; the rest answer at once.
    let calls = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const queue: Pick<Queue, 'readFeed' | 'feedEnd'> = {
      readFeed: (p) => app.deps.queue.readFeed(p),
      feedEnd: async () => ((calls += 1) === 1 ? gate.then(() => app.deps.queue.feedEnd()) : app.deps.queue.feedEnd()),
    };
    const fanout = createFeedFanout({ queue, log: silentLogger, stats: newStats() });
    try {
      // One subscriber from "now" waits in its feedEnd(); one resuming from a cursor starts meanwhile
      // at the tail its own feedEnd() gave, and is caught up at once.
      const now = fanout.watch({}, null);
      const resumed = await fanout.watch({}, await app.deps.queue.feedEnd());
      // Written after it joined (no notification here: nothing reads the tail until poked).
      const [b] = await app.deps.queue.enqueueMany([{ name: 'demo.echo', args: ['b'], runAfter: FUTURE() }]);
      const c = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['c'], runAfter: FUTURE() });
      // The first feedEnd() answers past B and C: before the fix the tail jumped there, and the
      // resumed subscriber, following the tail, never saw them.
      await waitFor(
        async () => {
          const [row] = await app.sql`SELECT pg_snapshot_xmin(pg_current_snapshot()) > (SELECT max(tx) FROM task_events WHERE task_id = ${c.id}) AS past`;
          return row!.past === true;
        },
        { message: 'the horizon to pass C' },
      );
      openGate();
      await now;
      fanout.poke();
      expect((await take(resumed, 2)).map((e) => e.taskId)).toEqual([b!.id, c.id]);
    } finally {
      fanout.close();
    }
  });

  it('holds back an event of a transaction still open, then delivers it before a later-committed one that got past it', async () => {
    const counting = countingQueue();
    const fanout = createFeedFanout({ queue: counting.queue, log: silentLogger, stats: newStats() });
    const other = postgres(app.database.url, { max: 1, onnotice: () => undefined });
    try {
      // Only these two tasks' events ("now" may reach back before them: the horizon is cluster-wide).
      const stream = await fanout.watch({ name: 'feed.late' }, null);
      // A: writes first (earlier sequence value and transaction id), commits last.
      let commitA!: () => void;
      let aId = '';
      const aWrote = new Promise<void>((wrote) => {
        void other.begin(async (tx) => {
          const [row] = await tx`INSERT INTO tasks (id, name, run_after) VALUES (gen_random_uuid(), 'feed.late', ${FUTURE()}) RETURNING id`;
          aId = String(row!.id);
          await tx`INSERT INTO task_events (task_id, version, type, status, attempt) VALUES (${aId}, 1, 'ENQUEUED', 'PENDING', 0)`;
          wrote();
          await new Promise<void>((resolve) => {
            commitA = resolve;
          });
        });
      });
      await aWrote;
      const [b] = await app.sql`WITH t AS (INSERT INTO tasks (id, name, run_after) VALUES (gen_random_uuid(), 'feed.late', ${FUTURE()}) RETURNING id)
        INSERT INTO task_events (task_id, version, type, status, attempt) SELECT id, 1, 'ENQUEUED', 'PENDING', 0 FROM t RETURNING task_id AS id`;
      const readsBefore = counting.readsDone();
      fanout.poke();
      // A read made after B committed has been handed out: B must still wait behind A.
      await waitFor(() => counting.readsDone() > readsBefore, { message: 'a read of the feed after B' });
      const early = stream.next();
      expect(await Promise.race([early.then(() => 'delivered'), Promise.resolve('held')])).toBe('held');
      commitA();
      // No notification for A (written by hand): the held-back poll finds it.
      const first = await early;
      const [second] = await take(stream, 1);
      expect([first.value?.taskId, second?.taskId]).toEqual([aId, String(b!.id)]);
    } finally {
      fanout.close();
      await other.end();
    }
  });

  it('never sets the tail back: a page read before a new start moved the tail on does not make the next read start behind it', async () => {
    // Every read's `after`; a page is held after its read while `hold` is set.
    const afters: FeedPosition[] = [];
    let read!: () => void;
    const readOnce = new Promise<void>((resolve) => (read = resolve));
    let release!: () => void;
    let hold: Promise<void> | undefined = new Promise<void>((resolve) => (release = resolve));
    const queue: Pick<Queue, 'readFeed' | 'feedEnd'> = {
      readFeed: async (p) => {
        afters.push(p.after);
        const page = await app.deps.queue.readFeed(p);
        read();
        if (hold) await hold;
        return page;
      },
      feedEnd: () => app.deps.queue.feedEnd(),
    };
    const fanout = createFeedFanout({ queue, log: silentLogger, stats: newStats() });
    try {
      // A first subscriber from "now" follows the tail; its first tail read is held after reading.
      const first = await fanout.watch({}, null);
      await readOnce;
      // It leaves; events are written; a second starts from "now": with nobody following the tail,
      // the tail moves to the feed's end, past the held page.
      await first.return?.();
      const written = await writeEvents(3);
      const second = await fanout.watch({}, null);
      hold = undefined;
      release();
      fanout.poke();
      await waitFor(() => afters.length >= 2 || undefined, { message: 'the tail read after the held page' });
      // Before: the held page set the tail back to where it ended, and the next read started there.
      expect(compareFeedPositions(afters.at(-1)!, written.at(-1)!.position)).toBeGreaterThanOrEqual(0);
      // The second subscriber gets what comes after its start, and nothing from before it.
      await expectFollowsTail(fanout, second);
    } finally {
      fanout.close();
    }
  });
  it('does not walk the feed from where its last follower left: a cursor resuming after the others have gone reads from its own position', async () => {
    const counting = countingQueue();
    const fanout = createFeedFanout({ queue: counting.queue, log: silentLogger, stats: newStats() });
    try {
      const { resumed, reads, ends } = await resumeAfterLastFollowerLeft(counting, fanout);
      // One read from its cursor and one of the tail after it (before: the 3,001 events from the
      // old tail, in four reads, before anything was handed out).
      expect(reads()).toBeLessThanOrEqual(2);
      // One read of the feed's end, for both the tail and the check of the cursor (checkNotAhead).
      expect(ends()).toBe(1);
      // And it follows the tail from there.
      await expectFollowsTail(fanout, resumed);
    } finally {
      fanout.close();
    }
  });
  it('does not go on through a backlog its tail was moved past: a tail read in flight when the last follower left and a feed resumed further on', async () => {
    const afters: FeedPosition[] = [];
    let reads = 0;
    let done = 0;
    let hold: (() => void) | undefined;
    let held: Promise<void> | undefined;
    const queue: Pick<Queue, 'readFeed' | 'feedEnd'> = {
      readFeed: async (p) => {
        reads += 1;
        afters.push(p.after);
        const page = await app.deps.queue.readFeed(p);
        // The first tail read (no upTo) after `held` is set waits for it, its page in hand.
        if (held && !p.upTo) {
          const wait = held;
          held = undefined;
          await wait;
        }
        done += 1;
        return page;
      },
      feedEnd: () => app.deps.queue.feedEnd(),
    };
    const fanout = createFeedFanout({ queue, log: silentLogger, stats: newStats() });
    try {
      const first = await fanout.watch({}, null);
      await waitFor(() => (done === reads ? true : undefined), { message: 'the first tail read' });
      const all = await writeEvents(2500);
      held = new Promise<void>((resolve) => (hold = resolve));
      const heldRead = reads + 1;
      fanout.poke();
      await waitFor(() => (reads >= heldRead && held === undefined ? true : undefined), { message: 'the tail read to be held' });
      // The follower leaves while its tail read (a full page of the backlog) is held; a feed resumes
      // past the backlog and gets what follows its cursor without waiting for that read.
      await first.return?.();
      const resumed = await fanout.watch({}, all[2400]!.position);
      expect((await take(resumed, 99)).map(key)).toEqual(all.slice(2401).map(key));
      const afterRelease = afters.length;
      hold?.();
      await waitFor(() => (done === reads ? true : undefined), { message: 'the reads after the held one to end' });
      // Before: the tail reader went on from the held page through the backlog (two more reads of
      // 1,000 and 500 events nobody wanted) before it read anything new.
      for (const after of afters.slice(afterRelease)) expect(compareFeedPositions(after, all[2400]!.position)).toBeGreaterThan(0);
      await expectFollowsTail(fanout, resumed);
    } finally {
      fanout.close();
    }
  });
  it('reads the feed end again after that read failed (the database away) rather than walking from the stale tail', async () => {
    const counting = countingQueue();
    const fanout = createFeedFanout({ queue: counting.queue, log: silentLogger, stats: newStats() });
    try {
      const { reads, ends } = await resumeAfterLastFollowerLeft(counting, fanout, () => counting.failNextEnds(1));
      // The failed read and the catch-up retry's own; then as without the failure (before: the retry
      // went on bounded by the old tail, and read the 3,001 events from there).
      expect(ends()).toBe(2);
      expect(reads()).toBeLessThanOrEqual(2);
    } finally {
      fanout.close();
    }
  });
});
