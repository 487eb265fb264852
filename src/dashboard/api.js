// @ts-check
/**
 * The dashboard's GraphQL access: queries and mutations over POST, subscriptions over SSE
 * (EventSource on GET /graphql, which yoga serves as `event: next` / `event: complete`).
 * EventSource was chosen over a hand-written graphql-transport-ws client: it is built into
 * every browser, reconnects by itself, and needs no protocol code (a few lines instead of a
 * state machine). Its limit, six HTTP/1.1 connections per origin, is not reached: the
 * dashboard holds at most three streams (the task list, the open task's state, its events).
 */

const GRAPHQL = '/graphql';

const ROW = `
  id name queue priority status version attempts maxAttempts cancelRequested
  enqueuedAt runAfter startedAt lastAttemptedAt finishedAt durationMs
  progress { current total message }`;

const DETAIL = `${ROW}
  args kwargs returnValue isFinished workerIds expiresAt idempotencyKey timeoutMs
  progress { current total message updatedAt }
  errors { exceptionType message traceback attempt at workerId }`;

export const TASKS = `query DashboardTasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {
  tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { node { ${ROW} } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}`;

export const STATS = `query DashboardStats {
  queueStats { queue pending running retrying succeeded failed cancelled total oldestPendingAgeMs }
}`;

/** Every change of every task: the list applies the filter itself (see live.js). */
export const CHANGES = `subscription DashboardChanges { taskStatusChanged { ${ROW} } }`;

export const WATCH = `subscription DashboardTask($id: ID!) { taskStatusChanged(id: $id) { ${DETAIL} } }`;

/** One entry of a task's event log, as the timeline and the output panel show it. */
const EVENT = `
  version type status at attempt workerId output
  progress { current total message }
  error { exceptionType message }`;

/** Every event of a task after `afterVersion`: replayed from its log, then live (see detail.js). */
export const EVENTS = `subscription DashboardTaskEvents($id: ID!, $afterVersion: Int) {
  taskEvents(id: $id, afterVersion: $afterVersion) { ${EVENT} }
}`;

/** A page of a task's log, oldest first: the events before the oldest one shown. */
export const EARLIER_EVENTS = `query DashboardEarlierEvents($id: ID!, $first: Int!, $after: String) {
  taskResult(id: $id) { events(first: $first, after: $after) { edges { node { ${EVENT} } } } }
}`;

/**
 * The `Task.events` cursor of a version, to read the page that ends just before the oldest event
 * shown: `events` pages forward only, and the API's version cursors are `version:<n>` in
 * base64url (src/queue/event-log.ts). The browser test loads earlier events through it, so a
 * change of that encoding fails a test rather than the page.
 */
export function versionCursor(version) {
  return btoa(`version:${version}`).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const CANCEL = `mutation DashboardCancel($id: ID!) { cancelTask(id: $id) { ${ROW} } }`;
export const RETRY = `mutation DashboardRetry($id: ID!) { retryTask(id: $id) { ${ROW} } }`;
export const ENQUEUE = `mutation DashboardEnqueue($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { ${ROW} } } }`;

/**
 * Runs a query or mutation. Resolves with `{data, errors}` as the server sent them; a
 * transport failure becomes one error with code NETWORK_ERROR or HTTP_<status>.
 */
export async function request(query, variables = {}) {
  let res;
  try {
    res = await fetch(GRAPHQL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    return { data: null, errors: [{ message: 'The server cannot be reached', extensions: { code: 'NETWORK_ERROR' } }] };
  }
  try {
    return await res.json();
  } catch {
    return { data: null, errors: [{ message: `HTTP ${res.status}`, extensions: { code: `HTTP_${res.status}` } }] };
  }
}

/**
 * Subscribes over SSE. Handlers: `next(data, errors)` per result; `open()` whenever the
 * stream (re)connects — the server has registered the subscription by then, so what the
 * caller reads afterwards cannot miss a change; `reconnecting()` when the browser retries;
 * `complete()` when the server ended the stream (a finished task, or a server shutting
 * down). Returns `close()`.
 */
export function subscribe(query, variables, handlers) {
  const url = `${GRAPHQL}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  const source = new EventSource(url);
  let closed = false;
  const close = () => {
    closed = true;
    source.close();
  };
  source.addEventListener('open', () => handlers.open?.());
  source.addEventListener('next', (event) => {
    const result = JSON.parse(/** @type {MessageEvent} */ (event).data);
    handlers.next(result.data, result.errors);
  });
  // Without closing, EventSource would reconnect and run the subscription again.
  source.addEventListener('complete', () => {
    close();
    handlers.complete?.();
  });
  source.addEventListener('error', () => {
    if (closed) return;
    if (source.readyState === EventSource.CLOSED) {
      closed = true;
      handlers.complete?.();
    } else {
      handlers.reconnecting?.();
    }
  });
  return close;
}

/**
 * Like `subscribe`, but resumes by itself: when the stream drops, or ends while `final()` says
 * it should not have (a server shutting down), it connects again after a pause (0.5 s doubling
 * to 5 s, back to 0.5 s once connected) with `variables()` read afresh, e.g. the last version
 * received, instead of EventSource's own retry, which would run the first URL again.
 * `reconnecting()` is called at each drop; `complete()` once, at the final end. Returns `close()`.
 */
export function subscribeResuming(query, variables, handlers) {
  let stopped = false;
  let pauseMs = 500;
  let timer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);
  let close = () => {};
  const again = () => {
    close();
    handlers.reconnecting?.();
    timer = setTimeout(connect, pauseMs);
    pauseMs = Math.min(pauseMs * 2, 5000);
  };
  const connect = () => {
    if (stopped) return;
    close = subscribe(query, variables(), {
      open() {
        pauseMs = 500;
        handlers.open?.();
      },
      next: handlers.next,
      reconnecting: again,
      complete() {
        if (stopped) return;
        if (handlers.final()) {
          stopped = true;
          handlers.complete?.();
        } else again();
      },
    });
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    close();
  };
}

/** The first error's code, for messages shown to the user. */
export function errorCode(errors) {
  return errors?.[0]?.extensions?.code ?? 'ERROR';
}
