import { exponentialDelayMs } from '../../exponential-delay.js';
import type { Logger } from '../../logger.js';
import type { TaskEvent as Notice } from '../../queue/events.js';
import type { FeedEvent } from '../../queue/event-feed.js';
import type { FeedPosition, LogWant, TaskEventRecord } from '../../queue/event-log.js';
import type { Queue, Task, TaskFilter } from '../../queue/index.js';
import { isTerminal, type TaskEventType, type TaskStatus } from '../../queue/states.js';
import { EventStream } from './event-stream.js';
import { createFeedFanout } from './feed-fanout.js';

/** Retrying a failed read: 100 ms doubling to 5 s (the database is away). */
const READ_RETRY = { baseMs: 100, maxMs: 5000 };

/** Most events read per task per query; a task with more is read again from there. */
const LOG_READ_LIMIT = 500;

export interface EventLogFanoutStats {
  /** Queries that read task logs (replays and live changes together). */
  logReads: number;
  /** Queries that read the global feed (shared tail and catch-ups). */
  feedReads: number;
  /** Events handed to subscribers. */
  delivered: number;
  subscriptions: number;
  /**
   * Since when (performance.now() ms) the feed's tail has been held at one horizon with events
   * waiting behind it: a transaction that wrote and stays open holds every feed subscriber back
   * (docs/operations.md). Null while nothing waits, or nobody follows the feed here.
   */
  feedHeldSince: number | null;
}

/**
 * The fan-out of the durable event log (DESIGN.md Part 2 §A) in one process. Notifications only
 * say that a task reached a version; the events themselves are read from task_events — once per
 * burst for all subscribers of all the tasks it names (one query), and once per burst for all
 * caught-up feed subscribers — and handed out in order, none skipped, none twice. A subscriber
 * that falls behind, reconnects or starts in the past reads from its own position: the log is
 * the truth, the notifications only say when to look.
 */
export interface EventLogFanout {
  readonly stats: EventLogFanoutStats;
  watchTaskEvents(task: Task, afterVersion: number, types: readonly TaskEventType[]): AsyncIterableIterator<TaskEventRecord>;
  /** With `tenant`, only that tenant's events (the feed is still read once for every subscriber). */
  watchEventFeed(filter: TaskFilter, after: FeedPosition | null, tenant?: string | null): Promise<AsyncIterableIterator<FeedEvent>>;
  onNotices(notices: readonly Notice[]): void;
  /** The LISTEN connection came back: notifications may have been missed; re-read everything. */
  resync(): void;
  /** resync(), and settles once the reads it starts (and any under way) are handed out or have failed. */
  catchUp(): Promise<void>;
  close(): void;
}

export function createEventLogFanout(o: { queue: Pick<Queue, 'readEventsAfter' | 'readFeed' | 'feedEnd'>; log: Logger }): EventLogFanout {
  const { queue, log } = o;
  const stats: EventLogFanoutStats = { logReads: 0, feedReads: 0, delivered: 0, subscriptions: 0, feedHeldSince: null };
  const byTask = new Map<string, Set<TaskLogSubscriber>>();
  /** Logs to read: task id → the lowest version a subscriber of it has. */
  let pending = new Map<string, number>();
  let reading: Promise<void> | undefined;
  let scheduled = false;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  const owner: LogOwner = {
    wantFrom(s) {
      pend(s.taskId, s.readFrom());
    },
    done(s) {
      stats.subscriptions -= 1;
      const set = byTask.get(s.taskId);
      set?.delete(s);
      if (set?.size === 0) byTask.delete(s.taskId);
    },
    delivered() {
      stats.delivered += 1;
    },
  };

  function pend(id: string, from: number): void {
    if (closed) return;
    pending.set(id, Math.min(pending.get(id) ?? Number.MAX_SAFE_INTEGER, from));
    schedule();
  }

  function schedule(): void {
    if (scheduled || reading || closed || retryTimer) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      reading = readLogs().finally(() => {
        reading = undefined;
        if (pending.size > 0) schedule();
      });
    });
  }

  /** One read at a time; what is asked for meanwhile rides the next. */
  async function readLogs(): Promise<void> {
    while (!closed && pending.size > 0) {
      const wants: LogWant[] = [...pending].filter(([id]) => byTask.has(id)).map(([id, afterVersion]) => ({ id, afterVersion }));
      pending = new Map();
      if (wants.length === 0) return;
      let rows: TaskEventRecord[];
      try {
        rows = await queue.readEventsAfter(wants, LOG_READ_LIMIT);
        stats.logReads += 1;
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ err: error, failures }, 'reading task events failed; retrying');
        for (const w of wants) pend(w.id, w.afterVersion);
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          schedule();
        }, exponentialDelayMs(failures, READ_RETRY));
        return;
      }
      const byId = new Map<string, TaskEventRecord[]>();
      for (const row of rows) {
        const list = byId.get(row.taskId);
        if (list) list.push(row);
        else byId.set(row.taskId, [row]);
      }
      for (const w of wants) {
        const events = byId.get(w.id) ?? [];
        const more = events.length === LOG_READ_LIMIT;
        for (const s of [...(byTask.get(w.id) ?? [])]) s.offer(events, more);
      }
    }
  }

  const feed = createFeedFanout({ queue, log, stats });

  return {
    stats,
    watchTaskEvents(task, afterVersion, types) {
      const s = new TaskLogSubscriber(task.id, afterVersion, types, owner, task.version);
      stats.subscriptions += 1;
      if (closed || (isTerminal(task.status) && task.version <= afterVersion)) {
        // Nothing after that version will come: the stream ends at once.
        s.end();
        return s;
      }
      const set = byTask.get(task.id) ?? new Set<TaskLogSubscriber>();
      set.add(s);
      byTask.set(task.id, set);
      pend(task.id, s.readFrom());
      return s;
    },
    watchEventFeed: (filter, after, tenant = null) => feed.watch(filter, after, tenant),
    onNotices(notices) {
      if (closed) return;
      for (const n of notices) {
        const set = byTask.get(n.id);
        if (!set) continue;
        // Past what it knows of the log: one that starts beyond the log's end learns so whether the task ended.
        for (const s of set) if (s.last < n.version || s.known < n.version) pend(n.id, s.readFrom());
      }
      if (notices.length > 0) feed.poke();
    },
    resync() {
      for (const [id, set] of byTask) for (const s of set) pend(id, s.readFrom());
      feed.poke();
    },
    async catchUp() {
      this.resync();
      // A read that fails leaves a retry timer and no read under way: settled all the same.
      while (scheduled || reading) await (reading ?? Promise.resolve()).catch(() => undefined);
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      for (const set of [...byTask.values()]) for (const s of [...set]) s.end();
      feed.close();
    },
  };
}

interface LogOwner {
  wantFrom(s: TaskLogSubscriber): void;
  done(s: TaskLogSubscriber): void;
  delivered(): void;
}

/**
 * One `taskEvents` subscription: takes the task's events strictly in version order (each once),
 * passes on those of the wanted types, and ends after a terminal event that is the last one
 * known (a terminal event followed by RETRIED is not the end of the task's life).
 *
 * One that starts at or beyond the log's end (afterVersion ≥ the task's version) has no event to
 * take before the task moves on, maybe never: it ends once the log's last event is terminal and
 * at or below afterVersion — what watchTaskEvents does at once for a task already finished (and,
 * like it, even though a retry could take the task on later). It learns the log's last event by
 * reading from the version before the last one it knows (readFrom), not from notifications alone:
 * the task may have ended between being loaded and this subscriber being registered.
 */
export class TaskLogSubscriber extends EventStream<TaskEventRecord> {
  private detached = false;
  /** The status after the last event taken. */
  private lastStatus: TaskStatus | undefined;
  /** The status at version `known`, once an event read told it. */
  private knownStatus: TaskStatus | undefined;

  constructor(
    readonly taskId: string,
    /** The last version taken (queued or skipped by the type filter). */
    public last: number,
    private readonly types: readonly TaskEventType[],
    private readonly owner: LogOwner,
    /** The highest version of the task known to exist (at first: the task's as loaded). */
    public known: number,
  ) {
    super();
  }

  /**
   * The version its next read starts after: `last`, except while it took nothing and stands at or
   * beyond the log's known end — then the one before that end, so the read returns the log's last event.
   */
  readFrom(): number {
    return this.lastStatus === undefined && this.last >= this.known ? Math.max(0, this.known - 1) : this.last;
  }

  /** Events of this task read from the log (ascending versions); `more`: the read was cut short. */
  offer(events: readonly TaskEventRecord[], more: boolean): void {
    if (!this.open) return;
    for (const event of events) {
      if (event.version >= this.known) {
        this.known = event.version;
        this.knownStatus = event.status;
      }
      if (event.version !== this.last + 1) continue; // already had it (or, never, a gap)
      const wanted = this.types.length === 0 || this.types.includes(event.type);
      if (wanted && !this.push(event)) break; // full: re-read from `last` once drained
      if (wanted) this.owner.delivered();
      this.last = event.version;
      this.lastStatus = event.status;
    }
    if (this.lagging) return;
    if (more) this.owner.wantFrom(this);
    // Nothing read after the last event taken, and it was terminal: the task's life is told.
    // (An event after a terminal one — RETRIED — would have been read with it.)
    else if (this.lastStatus && isTerminal(this.lastStatus) && (events.length === 0 || events.at(-1)?.version === this.last)) {
      this.end();
      this.detach();
    }
    // Took nothing and the read reached the log's end: that last event is terminal, at or below
    // afterVersion, so nothing after afterVersion is coming.
    else if (this.lastStatus === undefined && this.knownStatus && isTerminal(this.knownStatus) && this.known <= this.last) {
      this.end();
      this.detach();
    }
  }

  protected onDrained(): void {
    this.owner.wantFrom(this);
  }

  protected onClose(): void {
    this.detach();
  }

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.owner.done(this);
  }
}
