import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareFeedPositions, decodeFeedCursor, encodeFeedCursor, feedEnd, readFeed, type FeedEvent } from '../../src/queue/event-feed.js';
import { decodeVersionCursor, encodeVersionCursor, type FeedPosition } from '../../src/queue/event-log.js';
import { decodeCursor } from '../../src/queue/list.js';
import { claimTasks } from '../../src/queue/sql/claim-tasks.js';
import { completeTasks } from '../../src/queue/sql/complete-tasks.js';
import { requestCancel } from '../../src/queue/sql/request-cancel.js';
import { updateProgress } from '../../src/queue/sql/update-progress.js';
import { expectFeedOrderedLogs } from '../helpers/event-log.js';
import { explainedPlans } from '../helpers/explained-plans.js';
import { createQueueTestApp, type QueueTestApp } from '../helpers/factories.js';

// The global feed must never skip an event that commits late with an earlier sequence value.
let app: QueueTestApp;
beforeAll(async () => {
  app = await createQueueTestApp();
  // The plan test below reads statistics it takes itself: an autovacuum run at a moment a busy
  // machine chooses (a CI run under load) once left `tasks` looking tiny, and the planner then
  // hashed a scan of it: right for a few hundred rows, never chosen for a real table.
  await app.sql`ALTER TABLE tasks SET (autovacuum_enabled = false)`;
  await app.sql`ALTER TABLE task_events SET (autovacuum_enabled = false)`;
});
afterAll(async () => {
  await app.close();
});

const FUTURE = () => new Date(Date.now() + 3_600_000);

/** Reads the feed from `from` until it has nothing more to give now; returns the events and where it stopped. */
async function drain(from: FeedPosition): Promise<{ events: FeedEvent[]; position: FeedPosition; held: boolean }> {
  const events: FeedEvent[] = [];
  let position = from;
  for (;;) {
    const page = await readFeed(app.sql, { after: position, limit: 100 });
    events.push(...page.events);
    position = page.position;
    if (!page.full) return { events, position, held: page.held };
  }
}

/**
 * One task's events in the feed after `from`, once `count` of them are there: the feed's horizon is the
 * cluster's oldest running transaction, which another test file's may hold a while.
 */
async function feedEventsOf(from: FeedPosition, taskId: string, count: number): Promise<FeedEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const events = (await drain(from)).events.filter((e) => e.taskId === taskId);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('readFeed', () => {
  it('waits for a transaction that commits late instead of skipping its earlier event', async () => {
    const start = await feedEnd(app.sql);
    const other = postgres(app.database.url, { max: 1, onnotice: () => undefined });
    try {
      // A: writes first (earlier sequence value and transaction id), commits last.
      let commitA!: () => void;
      const aWrote = new Promise<void>((wrote) => {
        void other.begin(async (tx) => {
          await tx`INSERT INTO tasks (id, name, run_after) VALUES (gen_random_uuid(), 'feed.late', ${FUTURE()})
                   RETURNING id`.then(async ([row]) => {
            await tx`INSERT INTO task_events (task_id, version, type, status, attempt) VALUES (${row!.id}, 1, 'ENQUEUED', 'PENDING', 0)`;
          });
          wrote();
          await new Promise<void>((resolve) => {
            commitA = resolve;
          });
        });
      });
      await aWrote;
      // B: writes and commits while A is open.
      const b = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['b'], runAfter: FUTURE() });
      const seqs = await app.sql`SELECT seq FROM task_events WHERE task_id = ${b.id}`;
      expect(Number(seqs[0]?.seq)).toBeGreaterThan(0);

      const whileOpen = await drain(start);
      // A naive `seq > last` reader would hand out B now and never see A.
      expect(whileOpen.events.map((e) => e.taskId)).not.toContain(b.id);
      expect(whileOpen.held).toBe(true);

      commitA();
      let after: FeedEvent[] = [];
      const deadline = Date.now() + 10_000;
      while (!after.some((e) => e.taskId === b.id) && Date.now() < deadline) after = (await drain(whileOpen.position)).events;
      const names = after.map((e) => e.task.name);
      expect(names.indexOf('feed.late')).toBeGreaterThanOrEqual(0);
      expect(names.indexOf('feed.late')).toBeLessThan(after.findIndex((e) => e.taskId === b.id));
    } finally {
      await other.end();
    }
  });

  // A transaction takes its id at its first write: one that began writing before another wrote a
  // task's version and committed, and writes the next version after it, has the lower id (a worker's
  // batch of output over several tasks against a progress update of one of them; seen by a tester in 3
  // tasks of ~16,000). Without tasks.last_event_tx (drizzle/0041) the feed handed out [1, 3, 2]: each
  // event's tx is now never below its previous version's. The late writer is a real statement (a
  // cancel built on changeTailSql; below, the completion function), run in a transaction that wrote
  // before, as one statement's first row would.
  /** Runs `write` in a transaction whose id is taken before `between` writes and commits; commits it after. */
  async function writeAfterAnEarlierTransactionBegan(between: () => Promise<unknown>, write: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<void> {
    // On the app's pool (its own connection of it), so that its statements are sent as taskwire's are.
    let writeLater!: () => void;
    let committed!: Promise<unknown>;
    const wroteFirst = new Promise<void>((wrote) => {
      committed = app.sql.begin(async (tx) => {
        // Its first write: its transaction id is taken here, before the one of `between`.
        await tx`INSERT INTO tasks (id, name, run_after) VALUES (gen_random_uuid(), 'feed.first', ${FUTURE()})`;
        wrote();
        await new Promise<void>((resolve) => {
          writeLater = resolve;
        });
        await write(tx);
      });
    });
    await wroteFirst;
    await between();
    writeLater();
    await committed;
  }

  it("hands out one task's versions in version order when the transaction writing the later one began first", async () => {
    const start = await feedEnd(app.sql);
    const x = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['x'], runAfter: FUTURE() });
    await writeAfterAnEarlierTransactionBegan(
      async () => expect((await app.deps.queue.runTaskNow(x.id)).version).toBe(2),
      async (tx) => expect((await requestCancel(tx, { id: x.id, defaultTtlMs: 60_000 }))?.version).toBe(3),
    );
    expect((await feedEventsOf(start, x.id, 3)).map((e) => e.type)).toEqual(['ENQUEUED', 'PROMOTED', 'CANCELLED']);
    await expectFeedOrderedLogs(app.sql);
  });

  it('keeps that order for a version written by one of the SQL functions (a completion after a progress update)', async () => {
    const start = await feedEnd(app.sql);
    const x = await app.deps.queue.enqueue({ name: 'demo.echo', args: ['x'], queue: 'feed-order' });
    const [claimed] = await claimTasks(app.sql, { workerId: 'feed-worker', limit: 1, queues: ['feed-order'], leaseMs: 60_000 });
    expect(claimed?.id).toBe(x.id);
    await writeAfterAnEarlierTransactionBegan(
      async () => expect((await updateProgress(app.sql, { id: x.id, attempt: 1, workerId: 'feed-worker', current: 1, total: 2, message: null }))?.version).toBe(3),
      async (tx) => expect(await completeTasks(tx, 'feed-worker', [{ id: x.id, attempt: 1, returnValue: '1' }], 60_000)).toEqual([x.id]),
    );
    expect((await feedEventsOf(start, x.id, 4)).map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'PROGRESS', 'SUCCEEDED']);
    await expectFeedOrderedLogs(app.sql);
  });

  it('delivers everything 4 concurrent writers commit, once each, and resumes from a saved cursor exactly', async () => {
    const start = await feedEnd(app.sql);
    const seen = new Map<string, number>();
    let position: FeedPosition = start;
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const page = await readFeed(app.sql, { after: position, limit: 50 });
        for (const e of page.events) seen.set(`${e.taskId}:${e.version}`, (seen.get(`${e.taskId}:${e.version}`) ?? 0) + 1);
        // Round-trip the position through its cursor, as a client resuming would.
        position = decodeFeedCursor(encodeFeedCursor(page.position), 'after');
        if (!page.full) await new Promise((r) => setImmediate(r));
      }
    })();
    const writers = Array.from({ length: 4 }, (_, w) =>
      (async () => {
        const ids: string[] = [];
        for (let i = 0; i < 25; i++) {
          const tasks = await app.deps.queue.enqueueMany([
            { name: 'demo.echo', args: [w, i, 'a'], runAfter: FUTURE() },
            { name: 'demo.echo', args: [w, i, 'b'], runAfter: FUTURE() },
          ]);
          for (const t of tasks) {
            await app.deps.queue.cancelTask(t.id);
            ids.push(t.id);
          }
        }
        return ids;
      })(),
    );
    const ids = (await Promise.all(writers)).flat();
    const expected = ids.flatMap((id) => [`${id}:1`, `${id}:2`]);
    const deadline = Date.now() + 20_000;
    while (expected.some((k) => !seen.has(k)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    reading = false;
    await reader;
    expect(expected.filter((k) => !seen.has(k))).toEqual([]);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);

    // A second reader from the first one's midpoint gets exactly the rest, in the same order.
    const all = (await drain(start)).events;
    const mid = all[Math.floor(all.length / 2)]!.position;
    const rest = (await drain(decodeFeedCursor(encodeFeedCursor(mid), 'after'))).events;
    expect(rest.map((e) => `${e.taskId}:${e.version}`)).toEqual(all.filter((e) => compareFeedPositions(e.position, mid) > 0).map((e) => `${e.taskId}:${e.version}`));
  });

  it('reads a page by the feed index alone, and looks for held events by one probe, not a scan of the log', async () => {
    // 6,000 events and 2,200 tasks, both analyzed: enough that a sequential scan of the log would be planned where it is the cheaper guess.
    const plans = await explainedPlans(
      app.database.url,
      async (c) => {
        const page = await readFeed(c, { after: { tx: '0', seq: 0 }, limit: 100 });
        expect(page.events.length).toBe(100);
      },
      {
        before: async (c) => {
          await c`INSERT INTO tasks (id, name, run_after) SELECT gen_random_uuid(), 'feed.plan', now() + interval '1 hour' FROM generate_series(1, 2000)`;
          await c`INSERT INTO task_events (task_id, version, type, status, attempt)
                  SELECT t.id, v, 'ENQUEUED', 'PENDING', 0 FROM tasks t, generate_series(1, 3) v WHERE t.name = 'feed.plan'`;
          await c`ANALYZE task_events`;
          await c`ANALYZE tasks`;
        },
      },
    );
    const feed = plans.at(-1) ?? [];
    expect(feed.filter((n) => n.endsWith('using task_events_feed_idx'))).toHaveLength(2);
    expect(feed.filter((n) => n.startsWith('Seq Scan'))).toEqual([]);
  });

  it('refuses a cursor that is not from the feed', () => {
    expect(() => decodeFeedCursor('bm9wZQ', 'after')).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after', message: 'after is not a cursor from this API' }));
  });

  it("says which kind a cursor of another kind is, and which the field takes (TaskEventEdge.cursor and TaskEvent.cursor share a name)", () => {
    const pageOfEvents = encodeVersionCursor(16);
    const feed = encodeFeedCursor({ tx: '8218', seq: 13896 });
    expect(() => decodeFeedCursor(pageOfEvents, 'after')).toThrow(
      "after is not a cursor from this API: it is a cursor of a task's event pages (Task.events: TaskEventEdge.cursor), and after takes a position in the event feed (TaskEvent.cursor, taskEventFeedCursor)",
    );
    expect(() => decodeVersionCursor(feed, 'after')).toThrow(/^after is not a cursor from this API: it is a position in the event feed .*, and after takes a cursor of a task's event pages/);
    expect(() => decodeCursor(feed, 'after')).toThrow(/^after is not a cursor from this API: it is a position in the event feed .*, and after takes a cursor of task pages \(tasks: TaskEdge.cursor\)$/);
  });

  it('refuses a cursor whose position PostgreSQL or a JS number cannot hold, and takes the ends of the ranges', () => {
    const cursor = (text: string): string => Buffer.from(text).toString('base64url');
    for (const text of [
      'feed:1:9999999999999999999', // above bigint's max
      'feed:1:9223372036854775807', // bigint's max, but not exact as a JS number
      'feed:1:9007199254740992', // 2^53
      'feed:18446744073709551616:1', // 2^64: above xid8's max
      'feed:99999999999999999999:1',
      'feed:1:2:3',
      'feed:1:',
      'feed::1',
    ]) {
      expect(() => decodeFeedCursor(cursor(text), 'after'), text).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }));
    }
    expect(decodeFeedCursor(cursor('feed:18446744073709551615:9007199254740991'), 'after')).toEqual({ tx: '18446744073709551615', seq: 9007199254740991 });
    expect(decodeFeedCursor(cursor('feed:007:0'), 'after')).toEqual({ tx: '7', seq: 0 });
  });
});
