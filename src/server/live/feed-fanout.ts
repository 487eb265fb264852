import { ShuttingDownError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { compareFeedPositions, type FeedEvent, type FeedPage } from '../../queue/event-feed.js';
import type { FeedPosition } from '../../queue/event-log.js';
import type { Queue, Task, TaskFilter } from '../../queue/index.js';
import { matchesFilter } from '../../queue/task-filter.js';
import { EventStream } from './event-stream.js';
import type { EventLogFanoutStats } from './log-fanout.js';

/** Events per feed read. */
const FEED_READ_LIMIT = 1000;
/** While the feed is held back by an open transaction, look again this often, in ms. */
const FEED_HELD_RETRY_MS = 50;

/** One `taskEventFeed` subscription. */
class FeedSubscriber extends EventStream<FeedEvent> {
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
  }

  /** Takes events in feed order; false when it is full (then it re-reads from `position` once drained). */
  take(events: readonly FeedEvent[], upTo: FeedPosition): boolean {
    for (const e of events) {
      if (compareFeedPositions(e.position, this.position) <= 0) continue;
      // The shared tail reads every tenant's events once for all subscribers: others' are skipped here.
      if ((this.tenant === null || e.task.tenant === this.tenant) && matchesFilter({ ...e.task, status: e.status } as Task, this.filter)) {
        if (!this.push(e)) return false;
        this.delivered();
      }
      this.position = e.position;
    }
    if (compareFeedPositions(upTo, this.position) > 0) this.position = upTo;
    return true;
  }

  protected onDrained(): void {
    this.drained(this);
  }

  protected onClose(): void {
    this.onGone(this);
  }
}

/**
 * The feed's fan-out: one shared reader follows the feed's tail and hands each page to every
 * caught-up subscriber; a subscriber that starts in the past (or fell behind) reads on its own,
 * bounded by the shared tail, until it has caught up, then joins.
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
  const all = new Set<FeedSubscriber>();
  let tail: FeedPosition | undefined;
  let reading: Promise<void> | undefined;
  let again = false;
  let heldTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const gone = (s: FeedSubscriber): void => {
    o.stats.subscriptions -= 1;
    caughtUp.delete(s);
    all.delete(s);
  };
  const drained = (s: FeedSubscriber): void => {
    caughtUp.delete(s);
    void catchUp(s);
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

  async function readTail(): Promise<void> {
    let page: FeedPage;
    do {
      if (!tail || caughtUp.size === 0) return;
      try {
        page = await o.queue.readFeed({ after: tail, limit: FEED_READ_LIMIT });
        o.stats.feedReads += 1;
      } catch (error) {
        o.log.warn({ err: error }, 'reading the event feed failed; retrying');
        schedulePoll(500);
        return;
      }
      for (const s of [...caughtUp]) {
        // Full: it catches up on its own once drained.
        if (!s.take(page.events, page.position)) caughtUp.delete(s);
      }
      tail = page.position;
    } while (page.full && !closed);
    if (page.held) schedulePoll(FEED_HELD_RETRY_MS);
  }

  function schedulePoll(ms: number): void {
    if (heldTimer || closed) return;
    heldTimer = setTimeout(() => {
      heldTimer = undefined;
      poke();
    }, ms);
  }

  /** Reads on its own from its position up to the shared tail, then joins the caught-up set. */
  async function catchUp(s: FeedSubscriber): Promise<void> {
    try {
      for (;;) {
        if (closed) return;
        if (!tail) tail = await o.queue.feedEnd();
        const bound = tail;
        if (compareFeedPositions(s.position, bound) >= 0) {
          caughtUp.add(s);
          poke();
          return;
        }
        const page = await o.queue.readFeed({ after: s.position, upTo: bound, limit: FEED_READ_LIMIT });
        o.stats.feedReads += 1;
        // Not full: everything up to the bound was read (the shared reader saw it all committed).
        if (!s.take(page.events, page.full ? page.position : bound)) return; // full queue: resumes once drained
      }
    } catch (error) {
      // The database is away: try again from the same position (ending the stream would look,
      // to the client, like the end of the feed).
      o.log.warn({ err: error }, 'catching up on the event feed failed; retrying');
      if (!closed) setTimeout(() => void catchUp(s), 500).unref();
    }
  }

  return {
    async watch(filter, after, tenant = null) {
      if (closed) throw new ShuttingDownError();
      // With nobody following the tail it went stale: start it at the feed's end now.
      if (!tail || caughtUp.size === 0) {
        const end = await o.queue.feedEnd();
        if (!tail || compareFeedPositions(end, tail) > 0) tail = end;
      }
      const s = new FeedSubscriber(filter, tenant, after ?? tail, gone, drained, () => {
        o.stats.delivered += 1;
      });
      o.stats.subscriptions += 1;
      all.add(s);
      void catchUp(s);
      return s;
    },
    poke,
    close() {
      closed = true;
      clearTimeout(heldTimer);
      for (const s of [...all]) s.end();
    },
  };
}
