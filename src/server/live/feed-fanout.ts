import { BadUserInputError, ShuttingDownError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { compareFeedPositions, type FeedEnd, type FeedEvent, type FeedPage } from '../../queue/event-feed.js';
import type { FeedPosition } from '../../queue/event-log.js';
import type { Queue, Task, TaskFilter } from '../../queue/index.js';
import { matchesFilter } from '../../queue/task-filter.js';
import { EventStream } from './event-stream.js';
import { ReadyStep } from './ready-step.js';
import type { EventLogFanoutStats } from './log-fanout.js';

/** Events per feed read. */
const FEED_READ_LIMIT = 1000;
/** While the feed is held back by an open transaction, look again this often, in ms. */
const FEED_HELD_RETRY_MS = 50;

/** One `taskEventFeed` subscription. */
class FeedSubscriber extends EventStream<FeedEvent> {
  /** The filter holds every task: no per-event match (nor the object it needs). */
  private readonly everyTask: boolean;
  /** Why it was failed (fail()): its consumer gets this instead of the end. */
  private failure: Error | undefined;
  /** In the catch-up reader's set: a read from its position may fail it while its consumer waits. */
  catchingUp = false;
  /** Its cursor is being checked against the database (checkNotAhead): that may fail it too. */
  checking = false;

  constructor(
    private readonly filter: TaskFilter,
    /** Only this tenant's events (a scoped hub); null: every tenant's. */
    private readonly tenant: string | null,
    /** Everything up to here was handed out (or is not wanted). */
    public position: FeedPosition,
    private readonly onGone: (s: FeedSubscriber) => void,
    private readonly drained: (s: FeedSubscriber) => void,
    private readonly delivered: () => void,
  ) {
    super();
    this.everyTask = Object.values(filter).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
  }

  /**
   * Takes, in feed order, the events of a page that covers the feed from some position at or
   * before its own up to `upTo`: those at or before its position it already has. False when it is
   * full (then it re-reads from `position` once drained).
   */
  take(events: readonly FeedEvent[], upTo: FeedPosition): boolean {
    for (const e of events) {
      if (compareFeedPositions(e.position, this.position) <= 0) continue;
      // Pages are read once for every subscriber, every tenant's events: others' are skipped here.
      if ((this.tenant === null || e.task.tenant === this.tenant) && (this.everyTask || matchesFilter({ ...e.task, status: e.status } as Task, this.filter))) {
        if (!this.push(e)) return false;
        this.delivered();
      }
      this.position = e.position;
    }
    if (compareFeedPositions(upTo, this.position) > 0) this.position = upTo;
    return true;
  }

  /** Ends the stream with `error`: its consumer gets what is queued, then the error. */
  fail(error: Error): void {
    this.failure = error;
    this.end();
  }

  /**
   * The failure, if any, in place of the end. Why only here: a queued value (a ReadyStep) is never
   * the failure, and a caught-up subscriber cannot be failed, so the hot path — a value queued, or
   * a caught-up consumer waiting — keeps its step as it is (no extra promise per event).
   */
  override next(): Promise<IteratorResult<FeedEvent>> {
    const step = super.next();
    if (step instanceof ReadyStep || (this.failure === undefined && !this.catchingUp && !this.checking)) return step;
    // Rejected once: a consumer that maps the rejection to a result and asks again (graphql-sse's
    // yoga path does) then gets the end. Rejected at every next(), that SSE stream sent the error
    // over and over, at full speed, for as long as its client stayed.
    return step.then((result) => {
      const failure = this.failure;
      if (!result.done || failure === undefined) return result;
      this.failure = undefined;
      return Promise.reject(failure);
    });
  }

  protected onDrained(): void {
    this.drained(this);
  }

  protected onClose(): void {
    this.onGone(this);
  }
}

/**
 * A read PostgreSQL refused for its parameters (SQLSTATE class 22, data exception: a position out
 * of xid8's or bigint's range), not because the database is away: reading again from there fails
 * again, for ever.
 */
function refusesPosition(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/**
 * The feed's fan-out: two readers, each shared. The tail reader follows the feed's tail and hands
 * each page to every caught-up subscriber. The catch-up reader serves every subscriber behind
 * the tail (one that starts in the past, resumes after a restart, or fell behind and drained):
 * it reads from the lowest of their positions up to the tail and hands each page to each of them
 * (each skips what it already has), moving each to the caught-up set as it reaches the tail. So
 * ten feeds resuming at ten cursors cost one read per page, not ten, and share one event object
 * per event, and so one execution of it (shared-results.ts).
 */
export function createFeedFanout(o: {
  queue: Pick<Queue, 'readFeed' | 'feedEnd'>;
  log: Logger;
  stats: EventLogFanoutStats;
}): {
  watch(filter: TaskFilter, after: FeedPosition | null, tenant?: string | null): Promise<AsyncIterableIterator<FeedEvent>>;
  poke(): void;
  close(): void;
} {
  const caughtUp = new Set<FeedSubscriber>();
  /** Behind the tail and not full: the catch-up reader's. (A full subscriber is in neither set until drained.) */
  const behind = new Set<FeedSubscriber>();
  const all = new Set<FeedSubscriber>();
  let tail: FeedPosition | undefined;
  let reading: Promise<void> | undefined;
  let again = false;
  let heldTimer: NodeJS.Timeout | undefined;
  /** The catch-up reader is running (reset inside it, synchronously with its last look at `behind`). */
  let catchingUp = false;
  let catchUpTimer: NodeJS.Timeout | undefined;
  let closed = false;
  /** The read of the feed's end under way for resuming feeds (readEnd), shared by those resuming meanwhile. */
  let endRead: Promise<FeedEnd> | undefined;
  /**
   * The feed's end, read for a feed that resumed while nobody followed the tail: the catch-up reader
   * moves the tail there before it next bounds a read (see catchUp). `again`: that read failed (the
   * database away), and the catch-up's retry reads it anew.
   */
  let tailRefresh: Promise<FeedEnd> | 'again' | undefined;

  /** The feed's end, one read shared by the feeds resuming meanwhile (their cursor checks and the tail's refresh). */
  function readEnd(): Promise<FeedEnd> {
    return (endRead ??= o.queue.feedEnd().finally(() => {
      endRead = undefined;
    }));
  }

  /**
   * Moves the tail to the feed's `end` (read by the caller) if nobody follows it, forward only, and
   * returns the tail. Only while nobody follows it: a caught-up subscriber has every event up to the
   * tail and no further, and the tail reader goes on from there, so moving it past one would skip
   * what lay between.
   */
  function moveIdleTail(end: FeedPosition): FeedPosition {
    if (!tail || (caughtUp.size === 0 && compareFeedPositions(end, tail) > 0)) tail = end;
    return tail;
  }

  const gone = (s: FeedSubscriber): void => {
    o.stats.subscriptions -= 1;
    caughtUp.delete(s);
    behind.delete(s);
    all.delete(s);
    // Nobody follows the feed here: nothing to be held back.
    if (all.size === 0) noteHeld(undefined);
  };
  const drained = (s: FeedSubscriber): void => {
    caughtUp.delete(s);
    fallBehind(s);
  };

  function poke(): void {
    if (closed || caughtUp.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = readTail().finally(() => {
      reading = undefined;
      if (again) {
        again = false;
        poke();
      }
    });
  }

  /**
   * Follows the tail while pages come full. The next page is asked for before this one is handed
   * out: handing a page to the subscribers sets off one microtask per event per subscriber (their
   * streams' consumers send at once), and postgres.js sends a query on setImmediate, i.e. only
   * after all of them — so without the head start every page waited for the last one's sends
   * before its query even left, and under load the tail fell behind the writers.
   */
  async function readTail(): Promise<void> {
    if (!tail || caughtUp.size === 0) {
      noteHeld(undefined);
      return;
    }
    let next: Promise<FeedPage> | undefined = o.queue.readFeed({ after: tail, limit: FEED_READ_LIMIT });
    while (next) {
      let page: FeedPage;
      try {
        page = await next;
        o.stats.feedReads += 1;
      } catch (error) {
        o.log.warn({ err: error }, 'reading the event feed failed; retrying');
        schedulePoll(500);
        return;
      }
      if (caughtUp.size === 0 || closed) return;
      next = undefined;
      if (page.full) {
        // From the tail if it was moved past this page while nobody followed it (a start from now,
        // or a resume: catchUp): whoever is caught up now joined at it, and what lies between is nobody's.
        const from = tail && compareFeedPositions(tail, page.position) > 0 ? tail : page.position;
        next = o.queue.readFeed({ after: from, limit: FEED_READ_LIMIT });
        next.catch(() => undefined); // handled when awaited
        // After postgres.js's own setImmediate: the query is on its way before the sends start.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      for (const s of [...caughtUp]) {
        // Full: it catches up with the others once drained.
        if (!s.take(page.events, page.position)) caughtUp.delete(s);
      }
      // Synchronously with the hand-out: a subscriber joining from here on gets the next page.
      // Never back: a subscriber starting "now" while nobody followed the tail moved it to the
      // feed's end, past a page read before that; everyone caught up since has all up to there.
      if (!tail || compareFeedPositions(page.position, tail) > 0) tail = page.position;
      if (!next) noteHeld(page.held ? page.horizon : undefined);
      if (!next && page.held) schedulePoll(FEED_HELD_RETRY_MS);
    }
  }

  /** The tail's last page was held below `horizon` (undefined: nothing waits): feedHeldSince from the first such page at that horizon. */
  let heldAt: string | undefined;
  function noteHeld(horizon: string | undefined): void {
    if (horizon === undefined) {
      heldAt = undefined;
      o.stats.feedHeldSince = null;
    } else if (horizon !== heldAt) {
      heldAt = horizon;
      o.stats.feedHeldSince = performance.now();
    }
  }

  function schedulePoll(ms: number): void {
    if (heldTimer || closed) return;
    heldTimer = setTimeout(() => {
      heldTimer = undefined;
      poke();
    }, ms);
  }

  function fallBehind(s: FeedSubscriber): void {
    s.catchingUp = true;
    behind.add(s);
    startCatchUp();
  }

  function startCatchUp(): void {
    if (catchingUp || catchUpTimer || closed || behind.size === 0) return;
    catchingUp = true;
    void catchUp();
  }

  /**
   * The catch-up reader: runs while anyone is behind. Why bounded by the tail: everything up to
   * the tail is final (the tail reader saw it below the horizon), so a page that is not full
   * covers the whole range up to it, and a subscriber that reaches it can join the caught-up set
   * and get the tail reader's next page from exactly there.
   */
  async function catchUp(): Promise<void> {
    /** The next page, asked for before the last one was handed out (see readTail). */
    let ahead: { after: FeedPosition; upTo: FeedPosition; page: Promise<FeedPage> } | undefined;
    try {
      while (!closed && behind.size > 0) {
        if (tailRefresh) {
          // A feed resumed while nobody followed the tail, which stopped where its last follower
          // left, maybe millions of events ago: bounded by it, a cursor past it joined at once, and
          // the tail reader walked every event from there (1,000 a read, none of them wanted) before
          // it handed out a new one (a standby whose feeds had ended took 2.3-2.6 s to resume ten in
          // the event-log bench, and longer the older the tail). The feed's end instead, as a start
          // from now has (watch); moved only while nobody follows the tail: nobody joins the
          // caught-up set but here, so none can have joined during the read.
          const refresh = tailRefresh === 'again' ? readEnd() : tailRefresh;
          tailRefresh = undefined;
          let end: FeedEnd;
          try {
            end = await refresh;
          } catch (error) {
            tailRefresh ??= 'again';
            throw error;
          }
          moveIdleTail(end);
          continue; // closed, or everyone gone, meanwhile?
        }
        if (!tail) tail = await o.queue.feedEnd();
        // Read synchronously with the joins below: a subscriber joins at the tail as it is now.
        let bound = tail;
        let from: FeedPosition | undefined;
        let joined = false;
        for (const s of [...behind]) {
          if (compareFeedPositions(s.position, bound) >= 0) {
            behind.delete(s);
            s.catchingUp = false;
            caughtUp.add(s);
            joined = true;
          } else if (!from || compareFeedPositions(s.position, from) < 0) from = s.position;
        }
        if (joined) poke();
        if (!from) return;
        let reading: Promise<FeedPage>;
        if (ahead && compareFeedPositions(ahead.after, from) === 0) {
          // Read up to the bound of its time: everything up to there is final all the same.
          ({ page: reading, upTo: bound } = ahead);
        } else reading = o.queue.readFeed({ after: from, upTo: bound, limit: FEED_READ_LIMIT });
        ahead = undefined;
        let page: FeedPage;
        try {
          page = await reading;
        } catch (error) {
          if (!refusesPosition(error)) throw error;
          // Not the database away: this position cannot be read, and retrying it would stall every
          // subscriber behind the tail (they share this read) for as long as its subscription stays
          // open. Those standing there are failed; the others go on at once from theirs.
          o.log.warn({ err: error, position: from }, 'the event feed cannot be read from a subscriber position; failing its subscribers');
          const refused = new BadUserInputError('after is not a position the event feed can be read from', { field: 'after', cause: error });
          for (const s of [...behind]) {
            if (compareFeedPositions(s.position, from) !== 0) continue;
            behind.delete(s);
            s.catchingUp = false;
            s.fail(refused);
          }
          continue;
        }
        o.stats.feedReads += 1;
        // Not full: everything up to the bound was read.
        const end = page.full ? page.position : bound;
        if (page.full && !closed) {
          ahead = { after: end, upTo: bound, page: o.queue.readFeed({ after: end, upTo: bound, limit: FEED_READ_LIMIT }) };
          ahead.page.catch(() => undefined); // handled when awaited; dropped if nobody needs it
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        for (const s of [...behind]) {
          // One that fell behind during the read, from before `from`: the page does not cover its
          // gap; the next read starts from it.
          if (compareFeedPositions(s.position, from) < 0) continue;
          if (!s.take(page.events, end)) {
            behind.delete(s); // full: back once drained
            s.catchingUp = false;
          }
        }
      }
    } catch (error) {
      // The database is away: try again from the same positions (ending the streams would look,
      // to the clients, like the end of the feed).
      o.log.warn({ err: error }, 'catching up on the event feed failed; retrying');
      if (closed) return;
      catchUpTimer = setTimeout(() => {
        catchUpTimer = undefined;
        startCatchUp();
      }, 500);
      catchUpTimer.unref();
    } finally {
      // Here, not in a .finally() callback: a subscriber falling behind in between would find the
      // reader still marked running and wait for nobody.
      catchingUp = false;
    }
  }

  /**
   * Fails `s` if its cursor is past every transaction this database has begun: one of another
   * database, or of this one before it was restored from a backup. Taken, it would wait until the ids
   * caught up with it, and skip every event written meanwhile without a word. (A position at `next`
   * itself is the feed's end when no transaction runs: feedEnd()'s.) Checked beside the subscription,
   * not before it: the feeds resuming at once (a dead server's, on another) join the catch-up reader
   * together and share its pages, as before. Never cached: after a restore, or a failover to a replica
   * that lost commits, the ids go back. Those feeds share the read under way; a cursor that read
   * refuses is looked at again with a read of its own (that one may have begun before the cursor's
   * transaction committed) before it is refused. A cursor past the end has nothing to be handed
   * meanwhile. With the database away the cursor is taken as before (the reads retry).
   */
  function checkNotAhead(s: FeedSubscriber, after: FeedPosition): void {
    s.checking = true;
    const shared = readEnd();
    void (async () => {
      if (compareTx(after.tx, (await shared).next) <= 0) return;
      const { next } = await o.queue.feedEnd();
      if (compareTx(after.tx, next) <= 0) return;
      s.fail(
        new BadUserInputError(
          "after is ahead of this database's event log (a cursor of another database, or of this one before a restore from a backup): subscribe without it to start from now",
          { field: 'after' },
        ),
      );
    })()
      .catch((error: unknown) => o.log.warn({ err: error }, 'could not check a resuming feed cursor against the database; taken as it is'))
      .finally(() => {
        s.checking = false;
      });
  }

  return {
    async watch(filter, after, tenant = null) {
      if (closed) throw new ShuttingDownError();
      // With nobody following the tail it went stale: a subscriber starting "now" starts at the
      // feed's end. One resuming from a cursor does not wait for that read: subscribers resuming
      // together then reach the catch-up reader together and share its pages.
      let start = tail;
      // Looked at again after the read (moveIdleTail): a subscriber may have joined meanwhile (one
      // watch resuming while another waited here); moved past it, the tail skipped its events, as a
      // test of the fan-out found with the horizon held back.
      if (!start || (caughtUp.size === 0 && after === null)) start = moveIdleTail(await o.queue.feedEnd());
      const s = new FeedSubscriber(filter, tenant, after ?? start, gone, drained, () => {
        o.stats.delivered += 1;
      });
      o.stats.subscriptions += 1;
      all.add(s);
      if (after !== null) {
        // Read before the catch-up reader bounds its next read by the tail (see catchUp).
        if (caughtUp.size === 0) tailRefresh = readEnd();
        checkNotAhead(s, after);
      }
      fallBehind(s);
      return s;
    },
    poke,
    close() {
      closed = true;
      clearTimeout(heldTimer);
      clearTimeout(catchUpTimer);
      for (const s of [...all]) s.end();
    },
  };
}

/** -1, 0 or 1 as transaction id `a` is below, at or above `b` (canonical decimals, as xid8 prints). */
function compareTx(a: string, b: string): number {
  return compareFeedPositions({ tx: a, seq: 0 }, { tx: b, seq: 0 });
}
