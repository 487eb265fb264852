// @ts-check
/**
 * "Cancel all matching" / "Retry all matching" on the task list's current filter (docs/flow-control.md,
 * "Bulk actions"): a click asks to confirm, naming the filter; confirmed, cancelTasks or retryTasks
 * creates the bulk action on the server, and a progress bar follows it live (bulkActionChanged
 * over SSE, each version once) until it is DONE or FAILED. The server fixes the tasks when the
 * action is created, so tasks that match later are not touched, whatever the page shows then.
 *
 * The filter is the one app.js keeps in the query string (status, queue, name), read at the click:
 * this module needs nothing of app.js. Loaded as a module of its own from index.html.
 */
import { errorCode, request, subscribe } from './api.js';
import { toTaskFilter } from './live.js';
import { el, STATUSES } from './render.js';

const BULK = `id kind status matched processed changed version error`;
export const CANCEL_TASKS = `mutation DashboardCancelTasks($filter: TaskFilter!) { cancelTasks(filter: $filter) { ${BULK} } }`;
export const RETRY_TASKS = `mutation DashboardRetryTasks($filter: TaskFilter!) { retryTasks(filter: $filter) { ${BULK} } }`;
export const BULK_CHANGED = `subscription DashboardBulkAction($id: ID!) { bulkActionChanged(id: $id) { ${BULK} } }`;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The task list's filter as app.js wrote it in the query string. */
export function currentFilter(search = location.search) {
  const q = new URLSearchParams(search);
  const status = (q.get('status') ?? '').split(',').filter((s) => STATUSES.includes(s));
  return { status, queue: q.get('queue') ?? '', name: q.get('name') ?? '' };
}

/** The filter in words, for the confirmation: "status FAILED, queue emails" or "every task". */
export function describeFilter(filter) {
  const parts = [
    filter.status.length ? `status ${filter.status.join(' or ')}` : '',
    filter.queue ? `queue ${filter.queue}` : '',
    filter.name ? `task ${filter.name}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'every task (no filter)';
}

/** The progress panel's content for one state of the action. */
export function progressView(action) {
  const verb = action.kind === 'CANCEL' ? 'cancelled' : 'retried';
  const text = `${action.processed} / ${action.matched} processed · ${action.changed} ${verb}`;
  return [
    el('span', { class: `bulk-status bulk-${action.status.toLowerCase()}`, data: { field: 'status' } }, action.status),
    el('progress', { max: String(Math.max(1, action.matched)), value: String(action.matched === 0 ? 1 : action.processed), 'aria-label': text }),
    el('span', { class: 'muted', data: { field: 'counts' } }, text),
    action.error ? el('span', { class: 'form-error' }, action.error) : '',
  ];
}

let stopWatching = () => {};

function show(action) {
  const panel = byId('bulk-progress');
  panel.hidden = false;
  panel.dataset.id = action.id;
  panel.dataset.status = action.status;
  panel.dataset.version = String(action.version);
  panel.replaceChildren(...progressView(action));
}

/** Follows one action until it ends; a version not newer than the one shown is skipped. */
function watch(first) {
  stopWatching();
  let shown = first.version;
  show(first);
  if (first.status !== 'RUNNING') return;
  stopWatching = subscribe(BULK_CHANGED, { id: first.id }, {
    next(data) {
      const action = data?.bulkActionChanged;
      if (!action || action.version <= shown) return;
      shown = action.version;
      show(action);
    },
  });
}

async function run(kind, filter) {
  const { data, errors } = await request(kind === 'CANCEL' ? CANCEL_TASKS : RETRY_TASKS, { filter: toTaskFilter(filter) });
  const action = data?.cancelTasks ?? data?.retryTasks;
  if (errors || !action) {
    const panel = byId('bulk-progress');
    panel.hidden = false;
    panel.replaceChildren(el('span', { class: 'form-error', role: 'alert' }, `Could not start: ${errors?.[0]?.message ?? 'no answer'} (${errorCode(errors)})`));
    return;
  }
  watch(action);
}

/** Asks to confirm in the page (not window.confirm: it blocks the page), naming the filter. */
function ask(kind) {
  const filter = currentFilter();
  const confirmBox = byId('bulk-confirm');
  const verb = kind === 'CANCEL' ? 'Cancel' : 'Retry';
  const escape = (/** @type {KeyboardEvent} */ e) => e.key === 'Escape' && done();
  const done = () => {
    confirmBox.hidden = true;
    confirmBox.replaceChildren();
    document.removeEventListener('keydown', escape);
  };
  confirmBox.hidden = false;
  confirmBox.dataset.kind = kind;
  const keep = el('button', { type: 'button', class: 'secondary', data: { action: 'dismiss' }, on: { click: done } }, 'Keep them');
  confirmBox.replaceChildren(
    el('span', {}, `${verb} all tasks matching ${describeFilter(filter)} now? Tasks that match later are not touched.`),
    el('button', { type: 'button', class: 'primary', data: { action: 'confirm' }, on: { click: () => { done(); void run(kind, filter); } } }, `${verb} all matching`),
    keep,
  );
  // The safe answer has the focus, and Escape gives it, as a dialog would.
  keep.focus();
  document.addEventListener('keydown', escape);
}

byId('bulk-cancel').addEventListener('click', () => ask('CANCEL'));
byId('bulk-retry').addEventListener('click', () => ask('RETRY'));
