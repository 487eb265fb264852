// @ts-check
/**
 * DOM builders. Task data is user input (args, queue names, error messages): it only ever
 * reaches the page as text nodes or attribute values set through the DOM, never as markup.
 */
import { serverNow } from './clock.js';
import { between, duration, fraction, json, preciseTime, shortId, time } from './format.js';
import { may } from './scopes.js';

/**
 * Creates an element. `props`: `class`, `data` (dataset), `style` (an object), `on` (listeners), anything
 * else is set as an attribute (false/null/undefined: left out). Children: nodes, or
 * strings/numbers that become text nodes; null/false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'data') Object.assign(node.dataset, value);
    // Through CSSOM: the page's Content-Security-Policy refuses inline style attributes.
    else if (key === 'style') Object.assign(node.style, value);
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/**
 * `text` with a line break allowed after each `/`, `.`, `_` or `:`, so that a long zone, key or task
 * name wraps at its parts (America/Argentina/ Buenos_Aires, reports. nightly) rather than mid-word.
 */
export const breakable = (text) => text.split(/(?<=[/._:])/).flatMap((part, i) => (i > 0 ? [el('wbr'), part] : [part]));

// State-machine order, as src/states.ts (BLOCKED: a workflow step waiting for its parents).
export const STATUSES = ['BLOCKED', 'PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

export function statusBadge(status, cancelRequested = false) {
  return el('span', { class: `badge status-${status.toLowerCase()}`, data: { status } }, status === 'RUNNING' && cancelRequested ? 'CANCELLING' : status);
}

/** Why a waiting task has not started (Task.waitReason, docs/flow-control.md), in words. */
export const WAIT_REASONS = {
  SCHEDULED: 'its run-after time',
  QUEUE_PAUSED: 'its queue, which is paused',
  CONCURRENCY_LIMIT: "its queue's concurrency limit",
  RATE_LIMIT: "its queue's rate limit",
  KEY_LIMIT: "its concurrency key's limit",
  BLOCKED: 'its workflow parents',
};

/** A small note beside a waiting task's status: what holds it (the list's rows carry it as read, not live). */
function waitReasonNote(task) {
  if (!task.waitReason || (task.status !== 'PENDING' && task.status !== 'RETRYING' && task.status !== 'BLOCKED')) return null;
  return el('span', { class: 'wait-reason muted', data: { waitReason: task.waitReason }, title: `Waiting for ${WAIT_REASONS[task.waitReason] ?? task.waitReason}` }, ` ${task.waitReason.toLowerCase().replace('_', ' ')}`);
}

export function canCancel(task) {
  return task.status === 'BLOCKED' || task.status === 'PENDING' || task.status === 'RETRYING' || (task.status === 'RUNNING' && !task.cancelRequested);
}

export function canRetry(task) {
  return task.status === 'FAILED' || task.status === 'CANCELLED';
}

/** Waiting for a later runAfter (delayed, snoozed, backing off): runTaskNow can make it due now. */
export function canRunNow(task) {
  // A second's margin: the clock is the database's as estimated (exact to half a round trip), and a task
  // due within a second needs no button.
  return (task.status === 'PENDING' || task.status === 'RETRYING') && Date.parse(task.runAfter) > serverNow() + 1000;
}

/**
 * Cancel / retry buttons for a task, and in its detail (`withRunNow`) a run-now button; `act(action,
 * task, button)` runs one. The list's rows leave run-now out: their actions column fits two buttons.
 */
export function actions(task, act, withRunNow = false) {
  const button = (action, label) =>
    el('button', { type: 'button', class: `action action-${action}`, data: { action }, 'aria-label': `${label} task ${task.id}`, on: { click: (e) => (e.stopPropagation(), act(action, task, e.currentTarget)) } }, label);
  return [
    withRunNow && canRunNow(task) && may('tasks:retry') && button('run-now', 'Run now'),
    canCancel(task) && may('tasks:cancel') && button('cancel', 'Cancel'),
    canRetry(task) && may('tasks:retry') && button('retry', 'Retry'),
  ];
}

export function progressBar(task) {
  const f = fraction(task);
  // A task that ended without reporting progress has nothing to show.
  if (f === null && (task.status === 'FAILED' || task.status === 'CANCELLED')) return el('div', { class: 'progress' });
  const p = task.progress;
  const label = p && p.current !== null && p.total !== null ? `${p.current}/${p.total}` : f === 1 ? 'done' : '';
  const bar = el('div', { class: `bar status-${task.status.toLowerCase()}${f === null && task.status === 'RUNNING' ? ' indeterminate' : ''}`, role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': f === null ? null : Math.round(f * 100), title: p?.message ?? null },
    el('div', { class: 'fill', style: f === null ? null : { width: `${(f * 100).toFixed(1)}%` } }));
  return el('div', { class: 'progress' }, bar, el('span', { class: 'progress-label' }, label));
}

/** Run time (final, or ticking while running: the app updates `.elapsed`), and the wait before it. */
function durationCell(task) {
  const waited = task.startedAt ? el('div', { class: 'sub' }, `waited ${duration(between(task.enqueuedAt, task.startedAt))}`) : null;
  if (task.durationMs !== null && task.durationMs !== undefined) return el('td', { class: 'num' }, duration(task.durationMs), waited);
  if (task.status === 'RUNNING' && task.lastAttemptedAt) {
    return el('td', { class: 'num' }, el('span', { class: 'elapsed', data: { since: task.lastAttemptedAt } }, duration(between(task.lastAttemptedAt))), waited);
  }
  return el('td', { class: 'num muted' }, '—', waited);
}

export function taskRow(task, { selected, open, act }) {
  return el(
    'tr',
    { class: selected ? 'selected' : null, data: { id: task.id, status: task.status, version: String(task.version) }, on: { click: () => open(task.id) } },
    el('td', {}, statusBadge(task.status, task.cancelRequested), waitReasonNote(task)),
    // The queue again under the name, for a narrow list that folds the Queue column into this one (style.css, "task list").
    el('td', { class: 'name' }, el('a', { href: `#task=${task.id}`, class: 'task-link', on: { click: (e) => (e.preventDefault(), e.stopPropagation(), open(task.id)) } }, breakable(task.name)), el('span', { class: 'id', title: task.id }, shortId(task.id)), el('div', { class: 'sub queue-sub' }, task.queue)),
    el('td', { class: 'queue' }, task.queue),
    el('td', { class: 'num' }, `${task.attempts}/${task.maxAttempts}`),
    el('td', { class: 'num time', title: task.enqueuedAt }, time(task.enqueuedAt)),
    durationCell(task),
    el('td', {}, progressBar(task)),
    el('td', { class: 'actions' }, actions(task, act)),
  );
}

/** One row per queue: counts by status (coloured, zeros faded), total, the oldest due task's age. */
export function queueRows(stats, { pick, current }) {
  if (stats.length === 0) return [el('tr', {}, el('td', { class: 'muted', colspan: 10 }, 'No tasks yet.'))];
  return stats.map((q) =>
    el('tr', { class: q.queue === current ? 'active' : null, data: { queue: q.queue } },
      el('td', {}, el('button', { type: 'button', class: 'link', title: `Show only queue ${q.queue}`, on: { click: () => pick(q.queue) } }, q.queue)),
      ...STATUSES.map((s) => {
        const n = q[s.toLowerCase()];
        return el('td', { class: `num count status-${s.toLowerCase()}${n === 0 ? ' zero' : ''}`, data: { status: s } }, String(n));
      }),
      el('td', { class: 'num' }, String(q.total)),
      el('td', { class: 'num', data: { field: 'oldest' } }, q.oldestPendingAgeMs === null ? el('span', { class: 'muted' }, '—') : waitingSince(q.oldestPendingAgeMs)),
    ),
  );
}

/**
 * An age as of this read that goes on ticking (the app updates `.elapsed`): a paused queue's
 * oldest task gets no event that would read the counts again. Its start on the database's clock,
 * which the ticking measures from (clock.js).
 */
function waitingSince(ageMs) {
  return el('span', { class: 'elapsed', data: { since: new Date(serverNow() - ageMs).toISOString() } }, duration(ageMs));
}

const field = (label, value, cls) => [el('dt', {}, label), el('dd', { class: cls ?? null }, value === null || value === undefined || value === '' ? '—' : value)];

function errorItem(e) {
  return el('li', { class: 'error' },
    el('div', { class: 'error-head' }, el('span', { class: 'badge status-failed' }, `attempt ${e.attempt}`), el('b', {}, e.exceptionType), el('span', { class: 'muted' }, ` ${preciseTime(e.at)}${e.workerId ? ` · ${e.workerId}` : ''}`)),
    el('p', { class: 'error-message' }, e.message),
    e.traceback ? el('details', {}, el('summary', {}, 'Traceback'), el('pre', { class: 'traceback' }, e.traceback)) : null,
  );
}

/** A step's link to its workflow's graph (workflow.js): `#workflow=<id>`. */
function workflowLink(task) {
  const w = task.workflow;
  return el('a', { href: `#workflow=${w.id}`, class: 'workflow-link', data: { workflow: w.id } }, `${w.name ?? shortId(w.id)} · step ${task.stepRef ?? '?'} · ${w.status.toLowerCase()}`);
}

/** The top of a task's detail: name, status and actions, its fields, every attempt's error. */
export function detailSummary(task, { act, close }) {
  const p = task.progress;
  return [
    el('div', { class: 'detail-head' },
      el('div', {}, el('h2', {}, task.name), el('code', { class: 'id' }, task.id)),
      el('button', { type: 'button', class: 'close', 'aria-label': 'Close detail', on: { click: close } }, '×')),
    el('div', { class: 'detail-status' }, statusBadge(task.status, task.cancelRequested), progressBar(task), el('span', { class: 'detail-actions' }, actions(task, act, true))),
    el('dl', { class: 'fields' },
      field('Queue', task.queue), field('Priority', String(task.priority)),
      field('Attempts', `${task.attempts} of ${task.maxAttempts}`), field('Version', String(task.version)),
      field('Enqueued', preciseTime(task.enqueuedAt)), field('Run after', preciseTime(task.runAfter)),
      field('Started', preciseTime(task.startedAt)), field('Last attempt', preciseTime(task.lastAttemptedAt)),
      field('Finished', preciseTime(task.finishedAt)), field('Duration', duration(task.durationMs)),
      field('Waited', task.startedAt ? duration(between(task.enqueuedAt, task.startedAt)) : null), field('Timeout', task.timeoutMs ? duration(task.timeoutMs) : null),
      field('Expires', preciseTime(task.expiresAt)), field('Idempotency', task.idempotencyKey, 'mono'),
      p ? field('Progress', `${p.current ?? '?'}/${p.total ?? '?'}${p.message ? ` · ${p.message}` : ''}`, 'wide') : null,
      field('Workers', task.workerIds.length ? task.workerIds.join(', ') : null, 'wide mono'),
      task.workflow ? field('Workflow', workflowLink(task), 'wide') : null,
      field('Waiting for', task.waitReason ? WAIT_REASONS[task.waitReason] ?? task.waitReason : null, 'wide'),
      field('Concurrency key', task.concurrencyKey, 'mono'),
    ),
    task.errors.length ? [el('h3', {}, `Errors (${task.errors.length})`), el('ol', { class: 'errors' }, task.errors.map(errorItem))] : null,
  ].flat().filter(Boolean);
}

/** The bottom of a task's detail: its return value and arguments. */
export function detailTail(task) {
  return [
    el('h3', {}, 'Return value'),
    task.status === 'SUCCEEDED' ? el('pre', { class: 'json', data: { field: 'returnValue' } }, json(task.returnValue)) : el('p', { class: 'muted' }, 'None until the task succeeds.'),
    el('h3', {}, 'Arguments'),
    el('pre', { class: 'json', data: { field: 'args' } }, json(task.args)),
    el('h3', {}, 'Keyword arguments'),
    el('pre', { class: 'json', data: { field: 'kwargs' } }, json(task.kwargs)),
  ];
}
