// @ts-check
/**
 * The dashboard's GraphQL access: queries and mutations over POST, subscriptions over SSE (GET
 * /graphql, which yoga serves as `event: next` / `event: complete`), each with the signed-in
 * token as `Authorization: Bearer` (session.js). SSE rather than a graphql-transport-ws client:
 * a few lines instead of a protocol state machine. The stream is read with fetch, not
 * EventSource, because EventSource cannot send an Authorization header; it reconnects as
 * EventSource would. Six HTTP/1.1 connections per origin are not reached: the dashboard holds
 * at most three streams (the task list, the open task's state, its events).
 */
import { observeClock } from './clock.js';
import { authHeaders, currentToken, signedIn, signInNeeded } from './session.js';

const GRAPHQL = '/graphql';

const ROW = `
  id name queue priority status version attempts maxAttempts cancelRequested
  enqueuedAt runAfter startedAt lastAttemptedAt finishedAt durationMs
  progress { current total message }`;

const DETAIL = `${ROW}
  args kwargs returnValue isFinished workerIds expiresAt idempotencyKey timeoutMs
  progress { current total message updatedAt }
  errors { exceptionType message traceback attempt at workerId }
  stepRef workflow { id name status }
  concurrencyKey waitReason`;

// `now` (the database's clock, clock.js) with the reads whose rows show elapsed times: drawn with a fresh offset.
export const TASKS = `query DashboardTasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {
  now
  tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { node { ${ROW} waitReason } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}`;

/** The filter's count alone: read again now and then, as tasks outside the page enter and leave the filter unseen. */
export const COUNT = `query DashboardCount($filter: TaskFilter) { tasks(first: 0, filter: $filter) { totalCount } }`;

export const STATS = `query DashboardStats {
  now
  queueStats { queue blocked pending running retrying succeeded failed cancelled total oldestPendingAgeMs }
}`;

/** A sample of the database's clock alone (clock.js), for a page that reads nothing else for a while. */
export const CLOCK = `query DashboardClock { now }`;

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
export const RUN_NOW = `mutation DashboardRunNow($id: ID!) { runTaskNow(id: $id) { ${ROW} } }`;
export const ENQUEUE = `mutation DashboardEnqueue($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { ${ROW} } } }`;

/** Who the token stands for (a server without this field answers GRAPHQL_VALIDATION_FAILED). */
export const VIEWER = `query DashboardViewer { viewer { id name kind tenant scopes } }`;

const isUnauthenticated = (errors) => errorCode(errors) === 'UNAUTHENTICATED';

/** POSTs one operation with `token`; `{data, errors}` as sent, or one NETWORK_ERROR / HTTP_<status> error. */
async function post(query, variables, token) {
  let res;
  try {
    res = await fetch(GRAPHQL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...authHeaders(token) },
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
 * Runs a query or mutation. Resolves with `{data, errors}` as the server sent them; a
 * transport failure becomes one error with code NETWORK_ERROR or HTTP_<status>. Refused as
 * UNAUTHENTICATED (nothing ran), it waits for a sign-in and runs again with the new token.
 */
export async function request(query, variables = {}) {
  for (;;) {
    await signedIn();
    const token = currentToken();
    const sentMs = Date.now();
    const sent = performance.now();
    const result = await post(query, variables, token);
    if (typeof result.data?.now === 'string') observeClock(result.data.now, sentMs, Date.now(), performance.now() - sent);
    if (!isUnauthenticated(result.errors)) return result;
    await signInNeeded(token);
  }
}

/** Runs `query` with `token` as given, without waiting for or asking a sign-in (the sign-in form's check). */
export function requestWith(token, query, variables = {}) {
  return post(query, variables, token);
}

/** First wait before a dropped stream is opened again, in ms (doubling to RETRY_MAX_MS). */
const RETRY_MS = 1000;
const RETRY_MAX_MS = 5000;

/**
 * The events of an SSE body: `onEvent(type, data)` per event, until the body ends (resolves
 * 'ended') or `onEvent` returns false (resolves 'stopped'; the body is cancelled). Rejects when
 * the connection fails.
 */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'ended';
    buffer = (buffer + value).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = text;
        else if (field === 'data') data.push(text);
      }
      if (onEvent(type, data.join('\n')) === false) {
        void reader.cancel().catch(() => {});
        return 'stopped';
      }
    }
  }
}

/** The GraphQL errors of a refused stream's answer (yoga sends JSON), or one HTTP_<status> error. */
async function errorsOf(res) {
  try {
    const body = await res.json();
    if (Array.isArray(body?.errors) && body.errors.length > 0) return body.errors;
  } catch {
    // Not JSON: described by its status below.
  }
  return [{ message: `HTTP ${res.status}`, extensions: { code: `HTTP_${res.status}` } }];
}

/**
 * Subscribes over SSE. Handlers: `next(data, errors)` per result; `open()` whenever the
 * stream (re)connects — the server has registered the subscription by then, so what the
 * caller reads afterwards cannot miss a change; `reconnecting()` when the connection drops
 * (or the credential is refused: the stream waits for a sign-in) before it is opened again
 * with the same query; `complete(errors?)` when the server ended the stream (a finished task, or a
 * server shutting down) or refused it for another reason than the credential (then with the
 * refusal's errors, e.g. FORBIDDEN: retrying the same credential cannot help). Returns `close()`.
 */
export function subscribe(query, variables, handlers) {
  const url = `${GRAPHQL}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  const aborter = new AbortController();
  let closed = false;
  let pauseMs = RETRY_MS;
  const close = () => {
    closed = true;
    aborter.abort();
  };
  const pause = () =>
    new Promise((resolve) => {
      setTimeout(resolve, pauseMs);
      pauseMs = Math.min(pauseMs * 2, RETRY_MAX_MS);
    });
  const run = async () => {
    while (!closed) {
      await signedIn();
      if (closed) return;
      const token = currentToken();
      /** Set when the server ended the stream with UNAUTHENTICATED (the credential expired or was revoked). */
      let refused = false;
      /** The errors of a result without data: a stream refused (FORBIDDEN, a bad argument), which then ends. */
      let refusal;
      let outcome = 'ended';
      try {
        const res = await fetch(url, { headers: { accept: 'text/event-stream', ...authHeaders(token) }, cache: 'no-store', signal: aborter.signal });
        if (res.status === 401) {
          // UNAUTHENTICATED, whatever the body says it in (yoga sends it as a one-event stream).
          void res.body?.cancel().catch(() => {});
          refused = true;
        } else if (!res.ok || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
          const errors = await errorsOf(res);
          if (closed) return;
          if (!isUnauthenticated(errors)) {
            // Refused for good (as EventSource, which does not retry an error answer).
            closed = true;
            handlers.complete?.(errors);
            return;
          }
          refused = true;
        } else {
          pauseMs = RETRY_MS;
          handlers.open?.();
          outcome = await readEvents(res.body, (type, data) => {
            if (closed) return false;
            if (type === 'complete') return false;
            if (type !== 'next') return true;
            const result = JSON.parse(data);
            if (isUnauthenticated(result.errors)) {
              refused = true;
              return false;
            }
            // A stream refused at its start answers one result of errors and no data, then ends.
            refusal = result.data ? undefined : result.errors;
            handlers.next(result.data, result.errors);
            return true;
          });
        }
      } catch {
        // The connection failed or dropped: opened again below.
      }
      if (closed) return;
      if (outcome === 'stopped' && !refused) {
        closed = true;
        handlers.complete?.(refusal);
        return;
      }
      handlers.reconnecting?.();
      if (closed) return;
      if (refused) await signInNeeded(token);
      else await pause();
    }
  };
  void run();
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
