import { listenClientOf, settledOrRefused, type Sql } from '../../db/client.js';
import { ShuttingDownError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { listen, type Listener } from '../../queue/events.js';

/**
 * How long a hub keeps LISTENing after its last subscriber has gone, in ms: a dashboard that
 * reloads, or a client that re-subscribes task after task, does not LISTEN and UNLISTEN each time.
 */
export const LISTEN_IDLE_MS = 30_000;

/** Longest wait between two looks at whether anyone still watches, in ms. */
const IDLE_CHECK_MAX_MS = 1000;

export interface OnDemandListenerOptions {
  sql: Sql;
  channel: string;
  onNotify(payload: string): void;
  /**
   * LISTEN is in effect again after a spell in which notifications were missed: `reconnected`
   * after the connection was lost, else a fresh LISTEN after an idle UNLISTEN. Whatever was learnt
   * from notifications before (versions known, reads ahead) may be stale: re-read what is watched.
   * Not called for the very first LISTEN.
   */
  onGap(reconnected: boolean): void;
  /** Subscribers now: while above 0 (or a join() is under way) the listener stays. */
  watchers(): number;
  /** Idle grace before UNLISTEN, in ms (default LISTEN_IDLE_MS). */
  idleMs?: number;
  log: Logger;
}

/** A LISTEN held only while someone watches (docs/decisions.md, "The server listens only while someone watches"). */
export interface OnDemandListener {
  /**
   * Resolves once LISTEN is in effect: at once while it is, else after a LISTEN shared by every
   * caller meanwhile (one arriving during an UNLISTEN waits for it, then LISTENs afresh). A
   * subscription calls it before its first read, so no change after that read goes unannounced.
   * @throws ShuttingDownError after close(); the LISTEN's error if it failed (the next call tries again).
   */
  ready(): Promise<void>;
  /**
   * Sets a subscription up once LISTEN is in effect: `ready()`, then `setUp()`, whose first read
   * thus comes after the LISTEN, so a change committed after that read is announced to it. Counts
   * as a watcher until `setUp` has settled, so the LISTEN is not dropped between being made and
   * the subscriber's registration.
   * @throws ShuttingDownError after close(); what ready() or setUp throws.
   */
  join<T>(setUp: () => Promise<T>): Promise<T>;
  /** LISTEN is in effect now. */
  readonly listening: boolean;
  /** LISTENs made: the first, and one after each idle UNLISTEN (not the reconnects). */
  readonly listens: number;
  /** UNLISTENs (when nobody watches, and at close) and any LISTEN being made; no more after it. */
  close(): Promise<void>;
}

const READY = Promise.resolve();

/** How long close() waits for a LISTEN under way (a few ms when the database is there). */
const STARTING_WAIT_MS = 1_000;

/**
 * LISTEN on `channel` from the first watcher on, UNLISTEN once `watchers()` has been 0 for
 * `idleMs`. Every NOTIFY in the database costs a listening backend a read of the notification
 * queue and a send, and this process a parse (PostgreSQL up to 18 wakes every listening backend
 * of the database, whatever its channels): a server nobody watches pays none of it. Idleness is
 * polled (every idleMs / 4, at most 1 s) rather than told, as some watchers (the event log's) are
 * counted elsewhere.
 */
export function createOnDemandListener(options: OnDemandListenerOptions): OnDemandListener {
  const { sql, channel, log } = options;
  const idleMs = options.idleMs ?? LISTEN_IDLE_MS;
  const checkMs = Math.max(1, Math.min(IDLE_CHECK_MAX_MS, idleMs / 4));
  let listener: Listener | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let idleSince: number | undefined;
  let listens = 0;
  let joining = 0;
  let closed = false;

  async function start(): Promise<void> {
    try {
      // Arriving during an UNLISTEN: it goes out first, then this LISTEN (one connection, in order).
      await stopping;
      if (closed) throw new ShuttingDownError();
      const again = listens > 0;
      listens += 1;
      const made = await listen(sql, channel, {
        onNotify: options.onNotify,
        onListen: (reconnected) => {
          if (reconnected && !closed) options.onGap(true);
        },
      });
      if (closed) {
        await made.close().catch(() => undefined);
        throw new ShuttingDownError();
      }
      listener = made;
      // Before the callers waiting on ready() go on: they register with what is re-read here.
      if (again) options.onGap(false);
      log.debug({ channel }, 'listening: someone watches');
      armIdleCheck();
    } finally {
      starting = undefined;
    }
  }

  function armIdleCheck(): void {
    if (idleTimer || closed || !listener) return;
    idleTimer = setTimeout(checkIdle, checkMs);
    idleTimer.unref();
  }

  function checkIdle(): void {
    idleTimer = undefined;
    if (closed || !listener) return;
    if (joining > 0 || options.watchers() > 0) {
      idleSince = undefined;
      armIdleCheck();
      return;
    }
    const now = performance.now();
    idleSince ??= now;
    if (now - idleSince < idleMs) {
      armIdleCheck();
      return;
    }
    const made = listener;
    listener = undefined;
    idleSince = undefined;
    log.debug({ channel }, 'not listening: nobody watches');
    stopping = made
      .close()
      .catch((error: unknown) => log.warn({ err: error, channel }, 'UNLISTEN failed'))
      .finally(() => {
        stopping = undefined;
      });
  }

  function ready(): Promise<void> {
    if (closed) return Promise.reject(new ShuttingDownError());
    if (listener) return READY;
    starting ??= start();
    return starting;
  }

  return {
    ready,
    async join(setUp) {
      if (closed) throw new ShuttingDownError();
      joining += 1;
      try {
        await ready();
        if (closed) throw new ShuttingDownError();
        return await setUp();
      } finally {
        joining -= 1;
      }
    },
    get listening() {
      return listener !== undefined;
    },
    get listens() {
      return listens;
    },
    async close() {
      closed = true;
      clearTimeout(idleTimer);
      idleTimer = undefined;
      // A LISTEN still being made is not waited for past STARTING_WAIT_MS, nor once the database
      // refuses connections: with the database gone it waits for a connection that never comes, and
      // the server's stop with it (8.5 s of a stop in a test's run). start() closes it if it lands
      // later, and the pool's end rejects it if not.
      if (starting) await settledOrRefused(starting, listenClientOf(sql), { atMostMs: STARTING_WAIT_MS });
      await stopping;
      const made = listener;
      listener = undefined;
      await made?.close().catch(() => undefined);
    },
  };
}
