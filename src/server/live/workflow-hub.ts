import type { Sql } from '../../db/client.js';
import { NotFoundError, ShuttingDownError } from '../../errors.js';
import { exponentialDelayMs } from '../../exponential-delay.js';
import { assertWorkflowId, type WorkflowEvents } from '../../graphql/workflow-events.js';
import type { Logger } from '../../logger.js';
import { decodeWorkflowChanges, WORKFLOWS_CHANNEL } from '../../queue/workflows/channel.js';
import type { Workflow, Workflows } from '../../queue/workflows/types.js';
import type { Service } from '../../service.js';
import { createOnDemandListener } from './on-demand-listener.js';
import { PullStream } from './pull-stream.js';

/** Retrying a failed read: 100 ms doubling to 5 s (the database is away). */
const READ_RETRY = { baseMs: 100, maxMs: 5000 };
/** Workflows read at once by one flush (each `get` is its own query). */
const READ_PARALLEL = 16;
const RESYNC = Number.MAX_SAFE_INTEGER;

/** Counters of the workflow fan-out, for tests and metrics. */
export interface WorkflowHubStats {
  /** NOTIFYs received on the workflows channel. */
  notifications: number;
  /** Changes they announced. */
  changes: number;
  /** Workflow rows read (first states and changes together): one per change, whatever the subscribers. */
  reads: number;
  /** Open workflowChanged subscriptions. */
  subscriptions: number;
  /** 1 while LISTENing on the workflows channel (someone watches, or did within the idle grace), else 0. */
  readonly listening: number;
}

/** The workflow fan-out of one process: a Service started and stopped with the app. */
export interface WorkflowHub extends WorkflowEvents, Service {
  /** The hub as one tenant sees it (null: every tenant): another tenant's workflow is NOT_FOUND, as an unknown one. */
  scoped(readTenant: string | null): WorkflowEvents;
  readonly stats: WorkflowHubStats;
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

export interface WorkflowHubOptions {
  sql: Sql;
  /** Reads of every tenant's workflows (the unscoped queue's): views drop what a tenant may not see. */
  workflows: Pick<Workflows, 'get'>;
  log: Logger;
  /** How long to keep LISTENing after the last subscriber has gone, in ms (default LISTEN_IDLE_MS, 30 s). */
  listenIdleMs?: number;
}

const isFinished = (workflow: Workflow): boolean => workflow.status !== 'RUNNING';

/**
 * One workflowChanged subscription: holds at most one state (a newer one replaces it while the
 * client is behind), passes on only versions newer than the last one sent, ends after a finished one.
 */
class WorkflowSubscriber extends PullStream<Workflow> {
  private queued: Workflow | undefined;
  private last = 0;
  private primed = false;
  private early: Workflow[] | undefined;
  private detached = false;

  constructor(
    readonly id: string,
    private readonly gone: (s: WorkflowSubscriber) => void,
  ) {
    super();
  }

  /** Hands over a state; before the first state (prime) it is kept aside. */
  deliver(workflow: Workflow): void {
    if (!this.open) return;
    if (this.primed) this.send(workflow);
    else (this.early ??= []).push(workflow);
  }

  prime(first: Workflow): void {
    this.primed = true;
    this.send(first);
    const early = this.early ?? [];
    this.early = undefined;
    for (const w of early.sort((a, b) => a.version - b.version)) this.send(w);
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.gone(this);
  }

  protected enqueue(value: Workflow): boolean {
    this.queued = value;
    return true;
  }

  protected dequeue(): Workflow | undefined {
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

  private send(workflow: Workflow): void {
    if (workflow.version <= this.last) return;
    this.last = workflow.version;
    this.put(workflow);
    if (isFinished(workflow)) {
      this.end();
      this.detach();
    }
  }
}

/**
 * Notifications name only `id:version:status` (W1's `taskwire_workflows`); the hub reads each
 * announced change of a watched workflow once, for all its subscribers, one read at a time per
 * process (what arrives meanwhile rides the next one, so a burst of changes is conflated into
 * the newest state: versions strictly increase, the finished one always comes, intermediate
 * ones may be skipped). A reconnected LISTEN re-reads every watched workflow.
 */
export function createWorkflowHub(options: WorkflowHubOptions): WorkflowHub {
  const { sql, workflows, log } = options;
  const stats: WorkflowHubStats = {
    notifications: 0,
    changes: 0,
    reads: 0,
    subscriptions: 0,
    get listening() {
      return channel.listening ? 1 : 0;
    },
  };
  const byId = new Map<string, Set<WorkflowSubscriber>>();
  /** The newest state read of each watched workflow: a new subscriber's first state needs no read. */
  const known = new Map<string, Workflow>();
  let pending = new Map<string, number>();
  let firsts = new Map<string, { resolve(w: Workflow | undefined): void; reject(e: unknown): void }[]>();
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;
  let settled: Promise<void> | undefined;
  let ended = false;
  let drained: (() => void) | undefined;

  const gone = (s: WorkflowSubscriber): void => {
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
    for (const change of decodeWorkflowChanges(payload)) {
      stats.changes += 1;
      if (!byId.has(change.id) || (known.get(change.id)?.version ?? 0) >= change.version) continue;
      pending.set(change.id, Math.max(pending.get(change.id) ?? 0, change.version));
    }
    schedule();
  }

  const channel = createOnDemandListener({
    sql,
    channel: WORKFLOWS_CHANNEL,
    onNotify,
    onGap,
    watchers: () => stats.subscriptions,
    ...(options.listenIdleMs !== undefined ? { idleMs: options.listenIdleMs } : {}),
    log,
  });

  function onGap(): void {
    if (closed) return;
    // Notifications sent while nobody listened are lost: read every watched workflow again.
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
        if (pending.size > 0 || firsts.size > 0) schedule();
      });
    });
  }

  async function readAll(ids: readonly string[]): Promise<Map<string, Workflow>> {
    const rows = new Map<string, Workflow>();
    for (let i = 0; i < ids.length; i += READ_PARALLEL) {
      const chunk = await Promise.all(ids.slice(i, i + READ_PARALLEL).map((id) => workflows.get(id)));
      stats.reads += chunk.length;
      for (const w of chunk) if (w) rows.set(w.id, w);
    }
    return rows;
  }

  async function flush(): Promise<void> {
    while (!closed && (pending.size > 0 || firsts.size > 0)) {
      const changes = [...pending].filter(([id, v]) => byId.has(id) && (known.get(id)?.version ?? 0) < v).map(([id]) => id);
      const waiting = firsts;
      pending = new Map();
      firsts = new Map();
      let rows: Map<string, Workflow>;
      try {
        rows = await readAll([...new Set([...changes, ...waiting.keys()])]);
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ err: error, failures }, 'reading changed workflows failed; retrying');
        for (const id of changes) pending.set(id, RESYNC);
        for (const ws of waiting.values()) for (const w of ws) w.reject(error);
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          schedule();
        }, exponentialDelayMs(failures, READ_RETRY));
        return;
      }
      for (const [id, workflow] of rows) {
        const subscribers = byId.get(id);
        if (!subscribers || (known.get(id)?.version ?? 0) >= workflow.version) continue;
        known.set(id, workflow);
        for (const s of [...subscribers]) s.deliver(workflow);
      }
      for (const [id, ws] of waiting) for (const w of ws) w.resolve(rows.get(id));
    }
  }

  function loadFirst(id: string): Promise<Workflow | undefined> {
    const cached = known.get(id);
    if (cached) return Promise.resolve(cached);
    return new Promise((resolve, reject) => {
      firsts.set(id, [...(firsts.get(id) ?? []), { resolve, reject }]);
      schedule();
    });
  }

  async function watchWorkflow(id: string, tenant: string | null): Promise<AsyncIterableIterator<Workflow>> {
    assertWorkflowId(id);
    // Keyed as PostgreSQL writes a UUID (lower case), which changes are delivered by.
    const key = id.toLowerCase();
    return channel.join(() => subscribe(key, tenant));
  }

  async function subscribe(id: string, tenant: string | null): Promise<AsyncIterableIterator<Workflow>> {
    if (closed) throw new ShuttingDownError();
    // LISTEN, then subscribe, then read the first state: a change committed in between is caught.
    const subscriber = new WorkflowSubscriber(id, gone);
    byId.set(id, (byId.get(id) ?? new Set()).add(subscriber));
    stats.subscriptions += 1;
    let first: Workflow | undefined;
    try {
      first = await loadFirst(id);
    } catch (error) {
      subscriber.detach();
      throw error;
    }
    // Another tenant's workflow: the very error of an unknown one.
    if (!first || (tenant !== null && first.tenant !== tenant)) {
      subscriber.detach();
      throw new NotFoundError('Workflow', id);
    }
    subscriber.prime(first);
    return subscriber;
  }

  const view = (tenant: string | null): WorkflowEvents => ({ watchWorkflow: (id) => watchWorkflow(id, tenant) });
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
        for (const ws of firsts.values()) for (const w of ws) w.reject(new ShuttingDownError());
        firsts.clear();
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
