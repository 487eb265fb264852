// @ts-check
/**
 * The dashboard's flow-control panel (docs/flow-control.md): each queue's state (paused or
 * active), its limits, its waiting and running counts, and pause / resume (queues:admin).
 *
 * Polled like the schedules panel (schedules.js), for the same reasons: a pause or a limit is
 * changed by people, rarely, and the panel re-reads at once after its own buttons act. Loaded as
 * a module of its own from index.html; it needs nothing of app.js.
 */
import { errorCode, request } from './api.js';
import { time } from './format.js';
import { notice } from './notices.js';
import { el } from './render.js';
import { may } from './scopes.js';

/** How often the panel reads the queues while the page is visible, in ms. */
export const POLL_MS = 5000;

const QUEUE = `name paused pausedAt concurrency rateLimit { max perMs } perKeyConcurrency stats { pending retrying running }`;
export const QUEUES = `query DashboardQueues { queues { ${QUEUE} } }`;
export const PAUSE = `mutation DashboardPauseQueue($name: String!) { pauseQueue(name: $name) { ${QUEUE} } }`;
export const RESUME = `mutation DashboardResumeQueue($name: String!) { resumeQueue(name: $name) { ${QUEUE} } }`;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const none = () => el('span', { class: 'muted' }, '—');

/** A limit as text: `50 / 1 s`, `5`, or a dash. */
export function rateText(rate) {
  if (!rate) return null;
  const per = rate.perMs % 1000 === 0 ? `${rate.perMs / 1000} s` : `${rate.perMs} ms`;
  return `${rate.max} / ${per}`;
}

/** One row of the queues table; `act(action, queue, button)` runs a button's action. */
export function flowRow(q, act) {
  const button = (action, label) =>
    el('button', { type: 'button', class: `action action-${action}`, data: { action }, 'aria-label': `${label} queue ${q.name}`, on: { click: (e) => act(action, q, e.currentTarget) } }, label);
  const limit = (value, field) => el('td', { class: 'num', data: { field } }, value === null || value === undefined ? none() : String(value));
  return el(
    'tr',
    { data: { queue: q.name, paused: String(q.paused) } },
    el('td', { class: 'name' }, q.name),
    el('td', { data: { field: 'state' }, title: q.pausedAt ?? null }, q.paused ? el('span', { class: 'badge status-cancelled' }, `paused ${q.pausedAt ? time(q.pausedAt) : ''}`.trim()) : 'active'),
    limit(q.concurrency, 'concurrency'),
    limit(rateText(q.rateLimit), 'rate'),
    limit(q.perKeyConcurrency, 'perKey'),
    el('td', { class: 'num' }, String(q.stats.pending + q.stats.retrying)),
    el('td', { class: 'num' }, String(q.stats.running)),
    el('td', { class: 'actions' }, may('queues:admin') ? (q.paused ? button('resume', 'Resume') : button('pause', 'Pause')) : null),
  );
}

function render(queues) {
  const rows = queues.map((q) => flowRow(q, act));
  byId('flow-rows').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'muted', colspan: 8 }, 'No queues yet.'))]));
  byId('flow-note').textContent = `read every ${POLL_MS / 1000} s · limits: taskwire queues limits`;
}

// One read at a time; a read asked for meanwhile runs once the current one is done.
let busy = false;
let again = false;
export async function refreshQueues() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    const { data, errors } = await request(QUEUES, {});
    if (data?.queues) render(data.queues);
    else if (errors?.length) byId('flow-note').textContent = `could not read queues: ${errorCode(errors)}`;
  } finally {
    busy = false;
    if (again) {
      again = false;
      void refreshQueues();
    }
  }
}

async function act(action, queue, button) {
  if (button) button.disabled = true;
  const { errors } = await request(action === 'pause' ? PAUSE : RESUME, { name: queue.name });
  if (errors?.length) {
    notice(`${button?.textContent ?? action} ${queue.name} failed: ${errors[0].message} (${errorCode(errors)})`, 'error');
    if (button) button.disabled = false;
    return;
  }
  notice(`${action === 'pause' ? 'Paused' : 'Resumed'} queue ${queue.name}`);
  await refreshQueues();
}

function start() {
  void refreshQueues();
  setInterval(() => {
    if (document.visibilityState === 'visible') void refreshQueues();
  }, POLL_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refreshQueues();
  });
  // Signed in (or the credential read): its actions drawn again for what it may do.
  document.addEventListener('taskwire:scopes', () => void refreshQueues());
}

// Not in Node (the tests import the module to check its operations against the schema).
if (typeof document !== 'undefined' && document.getElementById('flow-rows')) start();
