import type { Sql } from '../../db/client.js';
import { BadUserInputError, NotFoundError, ShuttingDownError } from '../../errors.js';
import { exponentialDelayMs } from '../../exponential-delay.js';
import type { BulkActionEvents } from '../../graphql/bulk-action-events.js';
import type { Logger } from '../../logger.js';
import { BULK_CHANNEL, decodeBulkNotice } from '../../queue/bulk-actions/channel.js';
import type { BulkAction, BulkActions } from '../../queue/bulk-actions/types.js';
import { isUuid } from '../../queue/uuid.js';
import type { Service } from '../../service.js';
import { createOnDemandListener } from './on-demand-listener.js';
import { PullStream } from './pull-stream.js';

/** Retrying a failed read: 100 ms doubling to 5 s (the database is away). */
const READ_RETRY = { baseMs: 100, maxMs: 5000 };
const RESYNC = Number.MAX_SAFE_INTEGER;

/** Counters of the bulk-action fan-out, for tests. */
export interface BulkActionHubStats {
  notifications: number;
  /** Action rows read: at most one per notification burst per watched action, whatever the subscribers. */
  reads: number;
  subscriptions: number;
  /** 1 while LISTENing on the bulk-action channel (someone watches, or did within the idle grace), else 0. */
  readonly listening: number;
}

/** The bulkActionChanged fan-out of one server: a Service started and stopped with the app. */
export interface BulkActionHub extends BulkActionEvents, Service {
  /** The hub as one tenant sees it (null: every tenant): another tenant's action is NOT_FOUND, as an unknown one. */
  scoped(readTenant: string | null): BulkActionEvents;
  readonly stats: BulkActionHubStats;
  /**
   * The first half of a stop, while the transports are open: takes no new subscriber and hands out
   * the read under way. Open subscriptions stay open (see TaskEventHub.settle): the server closes
   * their transports without `complete`, so clients subscribe again elsewhere.
   */
  settle(): Promise<void>;
  /**
   * settle(), then stops listening and ends every subscription still open (the app's transports are
   * closed by then: only a consumer in this process sees these ends), then waits up to `drainMs`
   * (default 1,000) for their consumers.
   */
  close(drainMs?: number): Promise<void>;
}

export interface BulkActionHubOptions {
  sql: Sql;
  /** Reads of every tenant's actions (the unscoped queue's): views drop what a tenant may not see. */
  bulkActions: Pick<BulkActions, 'get'>;
  log: Logger;
  /** How long to keep LISTENing after the last subscriber has gone, in ms (default LISTEN_IDLE_MS, 30 s). */
  listenIdleMs?: number;
}

/** One subscription: keeps only the newest state while its client is behind, each version once, ends after DONE/FAILED. */
class BulkActionSubscriber extends PullStream<BulkAction> {
  private queued: BulkAction | undefined;
  private last = 0;
  private detached = false;

  constructor(
    readonly id: string,
    private readonly gone: (s: BulkActionSubscriber) => void,
  ) {
    super();
  }

  send(action: BulkAction): void {
    if (!this.open || action.version <= this.last) return;
    this.last = action.version;
    this.put(action);
    if (action.status !== 'RUNNING') {
      this.end();
      this.detach();
    }
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.gone(this);
  }

  protected enqueue(value: BulkAction): boolean {
    this.queued = value;
    return true;
  }

  protected dequeue(): BulkAction | undefined {
    const value = this.queued;
    this.queued = undefined;
    return value;
  }

  protected clearQueue(): void {
    this.queued = undefined;
  }

  protected onClose(): void {
    this.detach();
  }
}

/**
 * One LISTEN on BULK_CHANNEL per server. A notification names `id:version:status`; the hub reads
 * each watched action's row once per burst (one read at a time: what arrives meanwhile rides the
 * next), and hands it to every subscriber of that action. A new subscriber is registered before
 * its first read, so a change committed in between is not missed. A reconnected LISTEN re-reads
 * every watched action (notifications were lost meanwhile).
 */
export function createBulkActionHub(options: BulkActionHubOptions): BulkActionHub {
  const { sql, bulkActions, log } = options;
  const stats: BulkActionHubStats = {
    notifications: 0,
    reads: 0,
    subscriptions: 0,
    get listening() {
      return channel.listening ? 1 : 0;
    },
  };
  const byId = new Map<string, Set<BulkActionSubscriber>>();
  /** The newest state read of each watched action. */
  const known = new Map<string, BulkAction>();
  let pending = new Map<string, number>();
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;
  let settled: Promise<void> | undefined;
  let ended = false;
  let drained: (() => void) | undefined;

  const gone = (s: BulkActionSubscriber): void => {
    stats.subscriptions -= 1;
    const set = byId.get(s.id);
    set?.delete(s);
    if (set?.size === 0) {
      byId.delete(s.id);
      known.delete(s.id);
    }
    if (stats.subscriptions === 0) drained?.();
  };

  function onNotify(payload: string): void {
    if (closed) return;
    stats.notifications += 1;
    const notice = decodeBulkNotice(payload);
    if (!notice || !byId.has(notice.id) || (known.get(notice.id)?.version ?? 0) >= notice.version) return;
    pending.set(notice.id, Math.max(pending.get(notice.id) ?? 0, notice.version));
    schedule();
  }

  const channel = createOnDemandListener({
    sql,
    channel: BULK_CHANNEL,
    onNotify,
    onGap,
    watchers: () => stats.subscriptions,
    ...(options.listenIdleMs !== undefined ? { idleMs: options.listenIdleMs } : {}),
    log,
  });

  /** Notifications were missed (a lost connection, or nobody listened): read every watched action again. */
  function onGap(): void {
    if (closed) return;
    for (const id of byId.keys()) pending.set(id, RESYNC);
    schedule();
  }

  function schedule(): void {
    if (scheduled || flushing || closed || retryTimer) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      flushing = flush().finally(() => {
        flushing = undefined;
        if (pending.size > 0) schedule();
      });
    });
  }

  async function flush(): Promise<void> {
    while (!closed && pending.size > 0) {
      const ids = [...pending].filter(([id, v]) => byId.has(id) && (known.get(id)?.version ?? 0) < v).map(([id]) => id);
      pending = new Map();
      let rows: (BulkAction | undefined)[];
      try {
        rows = await Promise.all(ids.map((id) => bulkActions.get(id)));
        stats.reads += ids.length;
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ err: error, failures }, 'reading bulk actions failed; retrying');
        for (const id of ids) pending.set(id, RESYNC);
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          schedule();
        }, exponentialDelayMs(failures, READ_RETRY));
        return;
      }
      for (const action of rows) if (action) deliver(action);
    }
  }

  function deliver(action: BulkAction): void {
    const subscribers = byId.get(action.id);
    if (!subscribers || (known.get(action.id)?.version ?? 0) >= action.version) return;
    known.set(action.id, action);
    for (const s of [...subscribers]) s.send(action);
  }

  async function watchBulkAction(id: string, tenant: string | null): Promise<AsyncIterableIterator<BulkAction>> {
    if (!isUuid(id)) throw new BadUserInputError(`id must be a bulk action id (a UUID), got ${JSON.stringify(id)}`, { field: 'id' });
    // Keyed as PostgreSQL writes a UUID (lower case), which changes are delivered by.
    const key = id.toLowerCase();
    return channel.join(() => subscribe(key, tenant));
  }

  /** LISTEN is in effect: registered before its first read, so a change committed in between is not missed. */
  async function subscribe(id: string, tenant: string | null): Promise<AsyncIterableIterator<BulkAction>> {
    if (closed) throw new ShuttingDownError();
    const subscriber = new BulkActionSubscriber(id, gone);
    byId.set(id, (byId.get(id) ?? new Set()).add(subscriber));
    stats.subscriptions += 1;
    let first: BulkAction | undefined;
    try {
      first = await bulkActions.get(id);
      stats.reads += 1;
    } catch (error) {
      subscriber.detach();
      throw error;
    }
    // Another tenant's action: the very error of an unknown one.
    if (!first || (tenant !== null && first.tenant !== tenant)) {
      subscriber.detach();
      throw new NotFoundError('BulkAction', id);
    }
    // Its own read may be older than what the others were handed meanwhile (then that follows),
    // or newer (then they get it too; each skips a version it had).
    subscriber.send(first);
    const latest = known.get(id);
    if (latest) subscriber.send(latest);
    deliver(first);
    return subscriber;
  }

  const view = (tenant: string | null): BulkActionEvents => ({ watchBulkAction: (id) => watchBulkAction(id, tenant) });
  const everyTenant = view(null);
  return {
    ...everyTenant,
    scoped: (readTenant) => (readTenant === null ? everyTenant : view(readTenant)),
    stats,
    async start() {
      // LISTEN comes with the first subscriber (on-demand-listener.ts).
    },
    stop() {
      return this.close();
    },
    settle() {
      settled ??= (async () => {
        closed = true;
        clearTimeout(retryTimer);
        // The read under way is handed out while the transports are open.
        await flushing?.catch(() => undefined);
      })();
      return settled;
    },
    async close(drainMs = 1000) {
      await this.settle();
      if (ended) return;
      ended = true;
      await channel.close();
      for (const set of [...byId.values()]) for (const s of [...set]) s.end();
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
