// @ts-check
/**
 * The dashboard's GraphQL access: queries and mutations over POST, subscriptions over SSE
 * (EventSource on GET /graphql, which yoga serves as `event: next` / `event: complete`).
 * EventSource was chosen over a hand-written graphql-transport-ws client: it is built into
 * every browser, reconnects by itself, and needs no protocol code (a few lines instead of a
 * state machine). Its limit, six HTTP/1.1 connections per origin, is not reached: the
 * dashboard holds at most two streams (the task list and the open detail).
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

/** The first error's code, for messages shown to the user. */
export function errorCode(errors) {
  return errors?.[0]?.extensions?.code ?? 'ERROR';
}
