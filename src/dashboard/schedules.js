// @ts-check
/**
 * The dashboard's schedules panel (docs/schedules.md): key, cron and time zone, task, next and
 * last run, the last task's status (a link to the task's detail), pause / resume / run now.
 *
 * A key is unique per tenant only, and an admin (or anyone while auth is off) lists every tenant's
 * schedules: a row of another tenant than the viewer's names its tenant under the key, and every
 * button acts on the row's (tenant, key), never on the key in the viewer's own tenant.
 *
 * Polled, not streamed: a schedule changes when it fires (a task appears, which the task list
 * shows live anyway) or when someone pauses it, and neither needs to show within the second. The
 * panel reads the schedules every POLL_MS while the page is visible (none while hidden), at once
 * when the page comes back, and right after its own buttons act. A stream of its own would be a
 * fourth SSE connection per tab (see api.js).
 *
 * Loaded as a module of its own from index.html; it needs nothing of app.js.
 */
import { errorCode, request } from './api.js';
import { shortId, time } from './format.js';
import { notice } from './notices.js';
import { breakable, el, statusBadge } from './render.js';
import { may } from './scopes.js';

/** How often the panel reads the schedules while the page is visible, in ms. */
export const POLL_MS = 5000;
/** The panel shows the first this many schedules, by key. */
const LIMIT = 100;

const SCHEDULE = `tenant key cron timezone taskName paused nextRunAt lastRunAt version lastTask { id status }`;
export const SCHEDULES = `query DashboardSchedules($first: Int) { viewer { tenant } schedules(first: $first) { totalCount edges { node { ${SCHEDULE} } } } }`;
export const PAUSE = `mutation DashboardPauseSchedule($key: String!, $tenant: String) { pauseSchedule(key: $key, tenant: $tenant) { ${SCHEDULE} } }`;
export const RESUME = `mutation DashboardResumeSchedule($key: String!, $tenant: String) { resumeSchedule(key: $key, tenant: $tenant) { ${SCHEDULE} } }`;
export const TRIGGER = `mutation DashboardTriggerSchedule($key: String!, $tenant: String) { triggerSchedule(key: $key, tenant: $tenant) { id name } }`;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** A time cell: local time, the ISO instant as its title; a dash for none. */
function timeCell(iso, extra = {}) {
  return el('td', { class: 'num', title: iso ?? null, ...extra }, iso ? time(iso) : el('span', { class: 'muted' }, '—'));
}

/** How a notice or a button's label names a schedule: its key, and its tenant when not the viewer's. */
const nameOf = (s, ownTenant) => (s.tenant === ownTenant ? s.key : `${s.key} (tenant ${s.tenant})`);

/**
 * One row of the schedules table; `act(action, schedule, button)` runs a button's action.
 * `ownTenant`: the viewer's tenant, whose rows need not say it.
 */
export function scheduleRow(s, act, ownTenant) {
  const button = (action, label) =>
    el('button', { type: 'button', class: `action action-${action}`, data: { action }, 'aria-label': `${label} schedule ${nameOf(s, ownTenant)}`, on: { click: (e) => act(action, s, e.currentTarget) } }, label);
  const tenant = s.tenant === ownTenant ? [] : [el('div', { class: 'sub', data: { field: 'tenant' }, title: `tenant ${s.tenant}` }, 'tenant ', breakable(s.tenant))];
  const last = s.lastTask
    ? el('a', { href: `#task=${s.lastTask.id}`, class: 'task-link', title: s.lastTask.id }, statusBadge(s.lastTask.status), ' ', el('span', { class: 'id' }, shortId(s.lastTask.id)))
    : el('span', { class: 'muted' }, '—');
  // data-label: the column's name, which a narrow panel shows inside each cell (style.css, "schedules").
  return el(
    'tr',
    { data: { key: s.key, tenant: s.tenant, paused: String(s.paused), version: String(s.version) } },
    el('td', { class: 'name', data: { field: 'key' } }, breakable(s.key), ...tenant),
    el('td', { class: 'mono', data: { field: 'cron', label: 'Cron' } }, s.cron),
    el('td', { data: { field: 'timezone', label: 'Time zone' } }, breakable(s.timezone)),
    el('td', { data: { field: 'task', label: 'Task' } }, breakable(s.taskName)),
    timeCell(s.paused ? null : s.nextRunAt, { data: { field: 'next', label: 'Next run' } }),
    timeCell(s.lastRunAt, { data: { field: 'last', label: 'Last run' } }),
    el('td', { data: { field: 'lastTask', label: 'Last task' } }, last),
    el('td', { class: 'actions', data: { field: 'actions' } },
      may('schedules:write') ? (s.paused ? button('resume', 'Resume') : button('pause', 'Pause')) : null,
      // Running one now enqueues its task: the enqueue scope too.
      may('schedules:write') && may('tasks:enqueue') ? button('trigger', 'Run now') : null),
  );
}

/** The viewer's tenant, from the last read: notices name another tenant's schedule with its tenant. */
let ownTenant = null;

function render(data) {
  const { edges, totalCount } = data.schedules;
  ownTenant = data.viewer?.tenant ?? null;
  const rows = edges.map((edge) => scheduleRow(edge.node, act, ownTenant));
  byId('schedule-rows').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'muted', colspan: 8 }, 'No schedules yet (taskwire schedules upsert, or defineTask({ schedule })).'))]));
  byId('schedules-note').textContent = `${totalCount > edges.length ? `first ${edges.length} of ${totalCount} · ` : ''}read every ${POLL_MS / 1000} s`;
}

// One read at a time; a read asked for meanwhile runs once the current one is done.
let busy = false;
let again = false;
export async function refreshSchedules() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    const { data, errors } = await request(SCHEDULES, { first: LIMIT });
    if (data?.schedules) render(data);
    else if (errors?.length) byId('schedules-note').textContent = `could not read schedules: ${errorCode(errors)}`;
  } finally {
    busy = false;
    if (again) {
      again = false;
      void refreshSchedules();
    }
  }
}

async function act(action, schedule, button) {
  if (button) button.disabled = true;
  const query = action === 'pause' ? PAUSE : action === 'resume' ? RESUME : TRIGGER;
  // The row's tenant, always: the key alone names the viewer's own tenant's schedule.
  const { data, errors } = await request(query, { key: schedule.key, tenant: schedule.tenant });
  const name = nameOf(schedule, ownTenant);
  if (errors?.length) {
    notice(`${button?.textContent ?? action} ${name} failed: ${errors[0].message} (${errorCode(errors)})`, 'error');
    if (button) button.disabled = false;
    return;
  }
  if (action === 'trigger') notice(`Enqueued ${data.triggerSchedule.name} ${shortId(data.triggerSchedule.id)} from ${name}`);
  else notice(`${action === 'pause' ? 'Paused' : 'Resumed'} ${name}`);
  await refreshSchedules();
}

function start() {
  void refreshSchedules();
  setInterval(() => {
    if (document.visibilityState === 'visible') void refreshSchedules();
  }, POLL_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refreshSchedules();
  });
  // Signed in (or the credential read): its actions drawn again for what it may do.
  document.addEventListener('taskwire:scopes', () => void refreshSchedules());
}

// Not in Node (the tests import the module to check its operations against the schema).
if (typeof document !== 'undefined' && document.getElementById('schedule-rows')) start();
