// Over 400 lines (most of them comments on ordering): the state fan-out (read once, conflate, publish) and its subscription
// entry points share the pending/known/ahead/owed maps; the event log's fan-out (log-fanout.ts) and the
// per-tenant views (tenant-view.ts) are already apart.
import { exponentialDelayMs } from '../../exponential-delay.js';
import type { Sql } from '../../db/client.js';
import { NotFoundError, ShuttingDownError } from '../../errors.js';
import type { TaskEvents } from '../../graphql/context.js';
import type { Logger } from '../../logger.js';
import type { Service } from '../../service.js';
import { decodeEvents, EVENTS_CHANNEL, type TaskEvent } from '../../queue/events.js';
import { assertTaskId } from '../../queue/get.js';
import type { Queue, Task, TaskFilter } from '../../queue/index.js';
import type { TaskEventType, TaskStatus } from '../../queue/states.js';
import type { TaskEventRecord } from '../../queue/event-log.js';
import { normalizeTaskFilter } from '../../queue/task-filter.js';
import { createEventLogFanout, type EventLogFanoutStats } from './log-fanout.js';
import { createOnDemandListener } from './on-demand-listener.js';
import { createPublisher } from './publisher.js';
import { createTaskLoader } from './task-loader.js';
import type { TaskEventStats } from './hub-stats.js';
import { FilterSubscriber, TaskSubscriber, type SubscriberOwner } from './task-subscribers.js';
import { isVisible, tenantView, type TenantEntryPoints } from './tenant-view.js';

export type { TaskEventStats } from './hub-stats.js';

/** Retrying a failed read: 100 ms doubling to 5 s (the database is away). */
const READ_RETRY = { baseMs: 100, maxMs: 5000 };

/** A Service (start/stop) like every background part; `close(drainMs)` is its stop with a chosen drain. */
export interface TaskEventHub extends TaskEvents, Service {
  /**
   * The hub as one tenant sees it (null: every tenant, the hub itself): another tenant's id
   * reads as an unknown one (NotFoundError from watchTask/watchTaskEvents, undefined from
   * loadTask), and watchTasks/watchEventFeed carry only that tenant's tasks. Every view shares
   * the hub's reads: one read per change however many tenants and subscribers.
   */
  scoped(readTenant: string | null): TaskEvents;
  readonly stats: TaskEventStats;
  /** The event log's side (taskEvents, taskEventFeed). */
  readonly logStats: EventLogFanoutStats;
  /**
   * Nothing to start: the hub LISTENs on the events channel (the pool's one listening connection)
   * only while someone subscribes, from the first subscriber until `listenIdleMs` after the last.
   */
  start(): Promise<void>;
  /**
   * The first half of a stop, while the transports are still open: reads once more what every
   * subscriber watches and hands it out (for up to `drainMs`, default 1,000), and takes no new
   * subscriber. Open subscriptions stay open: one the read did not finish has no natural end, and
   * the server then closes its transport without `complete`, so the client subscribes again
   * elsewhere (app.ts stop()).
   */
  settle(drainMs?: number): Promise<void>;
  /**
   * settle(), then stops listening and ends every subscription still open, then waits up to
   * `drainMs` (default 1,000) for their consumers to finish. The app calls it after closing its
   * transports, so these ends reach no client; a consumer in this process sees its stream end.
   */
  close(drainMs?: number): Promise<void>;
  /** close() with the default drain. */
  stop(): Promise<void>;
}

export interface TaskEventHubOptions {
  sql: Sql;
  queue: Pick<Queue, 'getTasks' | 'readEventsAfter' | 'readFeed' | 'feedEnd'>;
  log: Logger;
  /** Most ids per read query (default 1,000). */
  readBatch?: number;
  /**
   * Deliveries per turn of the event loop while handing out a burst (default 1,000; see publisher.ts):
   * each turn ends with one write per connection, so fewer turns cost fewer writes, and more delay
   * the first frames. 1,000 of 10,000 subscribers over 100 connections: ~10 frames a write, the
   * first written ~10 ms into the burst.
   */
  publishSlice?: number;
  /** How long to keep LISTENing after the last subscriber has gone, in ms (default LISTEN_IDLE_MS, 30 s). */
  listenIdleMs?: number;
}

const RESYNC = Number.MAX_SAFE_INTEGER;
/**
 * Tasks remembered as read ahead of their notifications (see `ahead` below). An entry leaves when
 * its last notification comes; this bound is for those that never do (a notification lost while
 * the listener was down): past it the oldest are forgotten, at worst costing a re-read.
 */
const AHEAD_MAX = 100_000;

/**
 * One process's fan-out of task changes. Notifications name only `id:version:status`; the
 * hub reads each announced change once, batching every id of a notification burst into one
 * `queue.getTasks` call, and hands the row to all local subscribers of that task. A read
 * that returns a newer version than announced covers the later notifications too (they are
 * skipped), so changes that come faster than reads are conflated: subscribers see versions
 * strictly increasing, always the terminal one, but not necessarily every intermediate one.
 * Handing a row out is sliced across turns of the event loop (publisher.ts), and a
 * newer row of the same task takes over from one not fully handed out: the same conflation,
 * for changes that come faster than thousands of subscribers can be given them.
 * Tenants (scoped views) do not split the reads: a row is read once for every tenant, and
 * each subscriber's view drops what its tenant may not see.
 */
export function createTaskEventHub(options: TaskEventHubOptions): TaskEventHub {
  const { sql, queue, log } = options;
  const readBatch = options.readBatch ?? 1000;
  const publishSlice = options.publishSlice ?? 1000;
  const stats: TaskEventStats = {
    notifications: 0,
    events: 0,
    skippedEvents: 0,
    readQueries: 0,
    changeReadQueries: 0,
    snapshotQueries: 0,
    taskReads: 0,
    delivered: 0,
    subscriptions: 0,
    reconnects: 0,
    get listening() {
      return events.listening ? 1 : 0;
    },
    get listens() {
      return events.listens;
    },
  };
  const byTask = new Map<string, Set<TaskSubscriber>>();
  const byFilter = new Set<FilterSubscriber>();
  /** The newest row read of each watched task: a new subscriber's first state needs no query. */
  const known = new Map<string, Task>();
  /** Announced changes not read yet: id → highest version announced (RESYNC: read regardless). */
  let pending = new Map<string, number>();
  /**
   * Tasks whose read returned a newer version than announced (a 1 ms task read at its STARTED
   * notification is often SUCCEEDED already): id → the version published. The notifications up to
   * it are still on their way; each is skipped when it comes (not read, not published again), and
   * the entry goes with the last. `known` does this for tasks watched by id; this is for the ones
   * only filter subscribers see, which remember a bounded number of versions each (a burst of
   * 20,000 tasks outran that memory, and a re-read handed a task's end to a filter twice).
   */
  const ahead = new Map<string, number>();
  /**
   * First states read for a new subscriber by id that filter subscribers, and the task's earlier
   * subscribers by id, have not been given: id → the row. Such a row may be a version whose
   * notification is still on its way (filters, and subscribers by id given an older first state,
   * must get it then, once: the notification itself is skipped as known), or one whose notification was
   * handled long ago (filters had it then, and one whose bounded memory moved on must not get it
   * again — CI saw 100 tasks watched by id after they ended reach a filter twice). So the row is
   * given to filters when its notification comes, not when it is read. Bounded by the tasks
   * watched by id: an entry goes with the task's last subscriber (its notifications are then read
   * as any other task's).
   */
  const owed = new Map<string, Task>();
  let snapshots = new Map<string, { resolve(task: Task | undefined): void; reject(error: unknown): void }[]>();
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;
  /** settle() has begun its last reads (new notifications are still taken until `closed`). */
  let closing = false;
  let settled: Promise<void> | undefined;
  let ended = false;
  let drained: (() => void) | undefined;
  const publisher = createPublisher({
    slice: publishSlice,
    audience: (id) => [...(byTask.get(id) ?? []), ...byFilter],
    delivered: () => {
      stats.delivered += 1;
    },
    log,
  });

  const logs = createEventLogFanout({ queue, log });
  const events = createOnDemandListener({
    sql,
    channel: EVENTS_CHANNEL,
    onNotify,
    onGap,
    watchers: () => stats.subscriptions + logs.stats.subscriptions,
    ...(options.listenIdleMs !== undefined ? { idleMs: options.listenIdleMs } : {}),
    log,
  });

  const unsubscribed = (): void => {
    stats.subscriptions -= 1;
    if (stats.subscriptions === 0) drained?.();
  };
  const knownVersion = (id: string): number => Math.max(known.get(id)?.version ?? 0, ahead.get(id) ?? 0);
  const watched = (id: string): boolean => byTask.has(id) || byFilter.size > 0;

  /** Does anyone here watch this task, or could a filter subscription want it in this status? */
  function wanted(id: string, status: TaskStatus): boolean {
    if (byTask.has(id)) return true;
    for (const s of byFilter) if (s.wantsStatus?.(status) ?? true) return true;
    return false;
  }

  function onNotify(payload: string): void {
    // One already on its way when close() UNLISTENed: nobody is left to hand it to.
    if (closed) return;
    stats.notifications += 1;
    const notices = decodeEvents(payload);
    logs.onNotices(notices);
    for (const event of notices) {
      stats.events += 1;
      if (owed.size > 0) settleOwed(event);
      const knownAt = knownVersion(event.id);
      const readUpTo = ahead.get(event.id);
      // Notifications come in commit order, and a task's versions in that order: from this one on, none is older.
      if (readUpTo !== undefined && event.version >= readUpTo) ahead.delete(event.id);
      // Output only: the task's state did not change, so its state subscribers have nothing to read.
      if (event.outputOnly || !wanted(event.id, event.status) || knownAt >= event.version) {
        stats.skippedEvents += 1;
        continue;
      }
      pending.set(event.id, Math.max(pending.get(event.id) ?? 0, event.version));
    }
    schedule();
  }

  /**
   * LISTEN is back after notifications were missed. After a lost connection: re-read everything
   * watched. After an idle UNLISTEN (nobody watched, so nothing is): forget the reads ahead, whose
   * notifications went unheard; a subscriber arriving now reads its first state itself.
   */
  function onGap(reconnected: boolean): void {
    if (closed) return;
    if (!reconnected) {
      ahead.clear();
      owed.clear();
    } else {
      stats.reconnects += 1;
      log.info({ tasks: byTask.size, filters: byFilter.size }, 'events listener reconnected; re-reading watched tasks');
    }
    for (const id of byTask.keys()) pending.set(id, RESYNC);
    for (const s of byFilter) for (const id of s.resyncIds()) pending.set(id, RESYNC);
    logs.resync();
    schedule();
  }

  // A microtask: every notification parsed from the same socket read joins the batch, and the
  // read starts at once (the sooner it runs, the fewer intermediate versions it skips).
  function schedule(): void {
    if (scheduled || flushing || closed || retryTimer) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      flushing = flush().finally(() => {
        flushing = undefined;
        if (pending.size > 0 || snapshots.size > 0) schedule();
      });
    });
  }

  /**
   * One read at a time: what arrives meanwhile rides the next one, so reads never race each other.
   * Not the micro-batcher (src/queue/micro-batcher.ts): what waits here is a set of task ids,
   * deduplicated and re-read with backoff after a failure, with nobody awaiting a result per item.
   */
  async function flush(): Promise<void> {
    while (!closed && (pending.size > 0 || snapshots.size > 0)) {
      const announced = pending;
      const changes: string[] = [];
      /** Per change, the version known before this read: a re-read (RESYNC) that finds no newer one hands out nothing. */
      const since: number[] = [];
      for (const [id, version] of pending) {
        const knownAt = knownVersion(id);
        if (watched(id) && knownAt < version) {
          changes.push(id);
          since.push(knownAt);
        }
        // Announced while the read that overtook it was out: nothing older is still to come.
        const readUpTo = ahead.get(id);
        if (readUpTo !== undefined && version >= readUpTo) ahead.delete(id);
      }
      const firsts = snapshots;
      pending = new Map();
      snapshots = new Map();
      const ids = [...new Set([...changes, ...firsts.keys()])];
      const knownBefore = new Map([...firsts.keys()].map((id) => [id, knownVersion(id)]));
      let rows: Task[];
      try {
        rows = await read(ids, changes.length > 0, firsts.size > 0);
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ err: error, failures }, 'reading changed tasks failed; retrying');
        for (const id of changes) pending.set(id, RESYNC);
        for (const waiters of firsts.values()) for (const w of waiters) w.reject(error);
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          schedule();
        }, exponentialDelayMs(failures, READ_RETRY));
        return;
      }
      const byId = new Map(rows.map((task) => [task.id, task]));
      for (let i = 0; i < changes.length; i++) {
        const id = changes[i]!;
        const task = byId.get(id);
        if (!task) continue;
        if (task.version > (announced.get(id) ?? 0)) noteAhead(id, task.version);
        // Subscribers by id drop it anyway; a filter subscriber whose bounded memory moved on would not.
        if (task.version > since[i]!) publisher.publish(task);
      }
      // A first state read for a new subscriber may be a version whose notification has not
      // been handled yet; once it is, it is skipped as known, so filter subscribers get the row
      // then (`owed`), or now if that notification came during the read. So do the task's
      // earlier subscribers by id (whether or not any filter subscribes): one given PENDING by the
      // read before, while this one read RUNNING, was otherwise left at PENDING until the task
      // changed again (its RUNNING notification skipped as known).
      if (firsts.size > 0) {
        const published = new Set(changes);
        for (const id of firsts.keys()) {
          const task = byId.get(id);
          if (!task || published.has(id) || task.version <= (knownBefore.get(id) ?? 0) || !byTask.has(id)) continue;
          const announcedSince = pending.get(id);
          if (announcedSince === undefined) owed.set(id, task);
          // Announced during the read: a notification up to this version is here; a newer one is read next.
          else if (announcedSince <= task.version) publisher.publish(task);
        }
      }
      for (const [id, waiters] of firsts) for (const w of waiters) w.resolve(byId.get(id));
    }
  }

  /** A notification of a task with an owed first state: the row goes to filters with the first state change up to its version. */
  function settleOwed(event: TaskEvent): void {
    const row = owed.get(event.id);
    if (!row) return;
    if (event.outputOnly) {
      if (event.version >= row.version) owed.delete(event.id);
      return;
    }
    owed.delete(event.id);
    if (event.version <= row.version) publisher.publish(row);
  }

  /**
   * Everything watched read once more and handed out, then the event logs of taskEvents'
   * subscribers: a change committed before the stop whose notification is still on its way (the
   * last completion of the worker that `npm start` stops just before this server) reaches its
   * subscribers before their streams end, instead of being told only by the next server.
   */
  async function catchUp(): Promise<void> {
    for (const id of byTask.keys()) pending.set(id, RESYNC);
    for (const s of byFilter) for (const id of s.resyncIds()) pending.set(id, RESYNC);
    schedule();
    // A read that fails leaves a retry timer and no read under way: settled all the same.
    while (scheduled || flushing) await (flushing ?? Promise.resolve()).catch(() => undefined);
    await logs.catchUp();
  }

  function noteAhead(id: string, version: number): void {
    ahead.delete(id);
    ahead.set(id, version);
    if (ahead.size > AHEAD_MAX) ahead.delete(ahead.keys().next().value as string);
  }

  async function read(ids: string[], forChanges: boolean, forSnapshots: boolean): Promise<Task[]> {
    const rows: Task[] = [];
    for (let i = 0; i < ids.length; i += readBatch) {
      const chunk = await queue.getTasks(ids.slice(i, i + readBatch));
      stats.readQueries += 1;
      if (forChanges) stats.changeReadQueries += 1;
      if (forSnapshots) stats.snapshotQueries += 1;
      stats.taskReads += chunk.length;
      rows.push(...chunk);
    }
    for (const task of rows) if (byTask.has(task.id) && knownVersion(task.id) < task.version) known.set(task.id, task);
    return rows;
  }

  function loadFirst(id: string): Promise<Task | undefined> {
    const cached = known.get(id);
    if (cached) return Promise.resolve(cached);
    // Past settle() nothing is read any more: a first state asked for now would wait for ever.
    if (closed) return Promise.reject(new ShuttingDownError());
    return new Promise((resolve, reject) => {
      const waiters = snapshots.get(id) ?? [];
      waiters.push({ resolve, reject });
      snapshots.set(id, waiters);
      schedule();
    });
  }

  // Event payloads' `task` (TaskEvent.task): ids asked for in one turn are read in one query.
  const loadTask = createTaskLoader(queue);

  /** The hub's side of every subscriber's end: one object for all of them, no closure each. */
  const owner: SubscriberOwner = {
    taskSubscriberDone(subscriber) {
      unsubscribed();
      const set = byTask.get(subscriber.id);
      set?.delete(subscriber);
      if (set?.size === 0) {
        byTask.delete(subscriber.id);
        known.delete(subscriber.id);
        owed.delete(subscriber.id);
      }
    },
    filterSubscriberDone(subscriber) {
      unsubscribed();
      byFilter.delete(subscriber);
    },
  };

  async function watchTask(id: string, tenant: string | null): Promise<AsyncIterableIterator<Task>> {
    assertTaskId(id);
    // By the id's text as PostgreSQL gives it back (lower case), which changes are delivered by:
    // a UUID in capitals is the same task, and would have waited for them for ever.
    const key = id.toLowerCase();
    return events.join(() => subscribeTask(key, tenant));
  }

  async function subscribeTask(id: string, tenant: string | null): Promise<AsyncIterableIterator<Task>> {
    const subscriber = new TaskSubscriber(id, owner);
    // Subscribe first, then read the first state: a change committed in between is caught by
    // the subscription (and dropped if the first state already includes it).
    const set = byTask.get(id) ?? new Set<TaskSubscriber>();
    set.add(subscriber);
    byTask.set(id, set);
    stats.subscriptions += 1;
    let first: Task | undefined;
    try {
      first = await loadFirst(id);
    } catch (error) {
      subscriber.detach();
      throw error;
    }
    // Another tenant's task: the very error of an unknown one (the subscriber, never primed, saw nothing).
    if (!isVisible(first, tenant)) {
      subscriber.detach();
      throw new NotFoundError('Task', id);
    }
    stats.delivered += subscriber.prime(first);
    return subscriber;
  }

  async function watchTasks(filter: TaskFilter, tenant: string | null): Promise<AsyncIterableIterator<Task>> {
    // Checked as the core's list and bulk actions check it (BAD_USER_INPUT filter.queue for a NUL):
    // a subscription only matches in memory, so nothing else would refuse it.
    const checked = normalizeTaskFilter(filter);
    return events.join(async () => {
      const subscriber = new FilterSubscriber(checked, owner, tenant);
      byFilter.add(subscriber);
      stats.subscriptions += 1;
      return subscriber;
    });
  }

  async function watchTaskEvents(
    id: string,
    afterVersion: number,
    types: readonly TaskEventType[],
    tenant: string | null,
  ): Promise<AsyncIterableIterator<TaskEventRecord>> {
    assertTaskId(id);
    return events.join(async () => {
      // Through the loader: a hundred subscriptions asked for at once cost one read, not a hundred.
      const task = await loadTask(id.toLowerCase());
      if (!isVisible(task, tenant)) throw new NotFoundError('Task', id);
      return logs.watchTaskEvents(task, afterVersion, types);
    });
  }

  const entryPoints: TenantEntryPoints = {
    watchTask,
    watchTasks,
    watchTaskEvents,
    watchEventFeed(filter, after, tenant) {
      const checked = normalizeTaskFilter(filter);
      return events.join(() => logs.watchEventFeed(checked, after, tenant));
    },
    loadTask,
  };
  const everyTenant = tenantView(entryPoints, null);
  return {
    ...everyTenant,
    scoped: (readTenant) => (readTenant === null ? everyTenant : tenantView(entryPoints, readTenant)),
    stats,
    logStats: logs.stats,
    async start() {
      // LISTEN comes with the first subscriber (events.join).
    },
    stop() {
      return this.close();
    },
    settle(drainMs = 1000) {
      settled ??= (async () => {
        closing = true;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([catchUp(), new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)))]);
        clearTimeout(timer);
        closed = true;
        clearTimeout(retryTimer);
        await flushing?.catch(() => undefined);
        // What was read is handed out while the transports are open: clients get it before they close.
        publisher.close();
        for (const waiters of snapshots.values()) for (const w of waiters) w.reject(new ShuttingDownError());
        snapshots.clear();
      })();
      return settled;
    },
    async close(drainMs = 1000) {
      await this.settle(drainMs);
      if (ended) return;
      ended = true;
      logs.close();
      await events.close();
      for (const set of byTask.values()) for (const s of [...set]) s.end();
      for (const s of [...byFilter]) s.end();
      if (stats.subscriptions > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, drainMs);
        });
        clearTimeout(timer);
      }
    },
  };
}
