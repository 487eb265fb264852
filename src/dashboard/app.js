// @ts-check
/**
 * The live dashboard: one stream of every task change (SSE), the task list with filters and
 * cursor pages, queue counts, a detail panel with its own streams (detail.js), cancel / retry /
 * enqueue.
 * Nothing is polled: the list and the counts are read again only when a change arrives, a
 * filter or page changes, or the stream reconnects (changes may have been missed meanwhile).
 * Only the database's clock is sampled on a timer, on a page that reads nothing else (clock.js).
 * With auth on, a refused credential opens the sign-in dialog (sign-in.js); the streams and
 * requests wait for it and go on with the new token.
 */
import { CANCEL, CHANGES, CLOCK, COUNT, ENQUEUE, errorCode, request, RETRY, RUN_NOW, STATS, subscribe, TASKS } from './api.js';
import { serverNow } from './clock.js';
import { showTask } from './detail.js';
import { showWorkflow } from './workflow.js';
import { describeErrors, readEnqueueInput } from './form.js';
import { between, duration, time } from './format.js';
import { applyChange, createPage, dropUnmatched, matches, MAX_ROWS, toTaskFilter } from './live.js';
import { notice } from './notices.js';
import { may } from './scopes.js';
import { el, queueRows, STATUSES, taskRow } from './render.js';
import { signInAwaited } from './session.js';
import { initSignIn } from './sign-in.js';

const PAGE_SIZE = 20;
/** How often a page that reads nothing else samples the database's clock (clock.js), in ms. */
const CLOCK_SAMPLE_MS = 30_000;
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  filter: readFilter(),
  page: createPage(),
  /** Changes that arrived while a page was being read: applied on top of it. */
  buffered: /** @type {any[] | null} */ (null),
  detail: { id: /** @type {string | null} */ (null), close: () => {}, outdatedBy: /** @type {((task: { id: string, version: number }) => boolean) | undefined} */ (undefined) },
  queues: /** @type {any[]} */ ([]),
};

// ---- URL: filters in the query string, the open task in the hash -------------------------

function readFilter() {
  const q = new URLSearchParams(location.search);
  const status = (q.get('status') ?? '').split(',').filter((s) => STATUSES.includes(s));
  return { status, queue: q.get('queue') ?? '', name: q.get('name') ?? '' };
}

function writeFilter() {
  const q = new URLSearchParams();
  if (state.filter.status.length) q.set('status', state.filter.status.join(','));
  if (state.filter.queue) q.set('queue', state.filter.queue);
  if (state.filter.name) q.set('name', state.filter.name);
  const search = q.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}${location.hash}`);
}

// ---- the live indicator ---------------------------------------------------------------------

function setLive(kind, text) {
  const live = byId('live');
  live.className = `live ${kind}`;
  live.textContent = text;
}

// ---- the connection ------------------------------------------------------------------------------

/** A drop shorter than this (a server restarting) shows only in the indicator. */
const OFFLINE_BANNER_AFTER_MS = 2000;
/** @type {Date | null} */
let offSince = null;
let offlineTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);

/**
 * The live stream dropped: past OFFLINE_BANNER_AFTER_MS a banner says since when, and the counts
 * and rows are dimmed, for they are as of then ("reconnecting…" in the corner was all an operator
 * saw, beside counts that no longer moved and actions that could only fail).
 */
function connectionLost() {
  if (offSince) return;
  // On the database's clock, as every other time on the page.
  const since = (offSince = new Date(serverNow()));
  offlineTimer = setTimeout(() => {
    const banner = byId('offline');
    banner.textContent =
      `Not connected to the server since ${time(since.toISOString())}: the counts and tasks below are as they were then, ` +
      'and actions fail until it answers again. Reconnecting…';
    banner.hidden = false;
    document.body.classList.add('stale');
  }, OFFLINE_BANNER_AFTER_MS);
}

function connectionBack() {
  offSince = null;
  clearTimeout(offlineTimer);
  byId('offline').hidden = true;
  document.body.classList.remove('stale');
}

// ---- the task list --------------------------------------------------------------------------

async function loadPage(mode = state.page.mode, cursor = state.page.cursor) {
  const page = createPage(mode, cursor);
  const variables = { filter: toTaskFilter(state.filter), first: PAGE_SIZE };
  if (mode === 'after') variables.after = cursor;
  if (mode === 'before') Object.assign(variables, { first: undefined, last: PAGE_SIZE, before: cursor });
  state.buffered = [];
  const pending = (state.page = page);
  const { data, errors } = await request(TASKS, variables);
  if (state.page !== pending) return; // a newer read replaced this one
  const buffered = state.buffered ?? [];
  state.buffered = null;
  if (errors) {
    notice(`Could not read tasks: ${errors[0].message} (${errorCode(errors)})`, 'error');
    return;
  }
  // Back at the newest tasks: show the live first page rather than a partial one.
  if (mode === 'before' && !data.tasks.pageInfo.hasPreviousPage) return loadPage('first', null);
  page.rows = data.tasks.edges.map((edge) => edge.node);
  page.pageInfo = data.tasks.pageInfo;
  page.totalCount = data.tasks.totalCount;
  for (const task of buffered) applyChange(page, task, state.filter);
  renderRows();
}

function change(task) {
  if (state.buffered) {
    state.buffered.push(task);
    return;
  }
  const result = applyChange(state.page, task, state.filter);
  // 'overflow' too: renderRows reads the page again, once the rows are not held.
  if (result) scheduleRender(result === 'updated' ? task.id : null, true);
  // The open task changed after its detail's streams ended (retried here or elsewhere): follow it again.
  if (state.detail.outdatedBy?.(task)) showDetail(task.id);
}

// ---- rows stay put under the pointer and the keyboard --------------------------------------
// New tasks go on top of the live first page, which moved every row down under the pointer: a
// Retry aimed at one task landed on another (3 clicks in 5, at 10 new tasks a second). While the
// pointer moves over the rows (and for HOLD_MS after it last moved there: aiming, then clicking), or
// the keyboard's focus is in them, the rows shown stay where they are (their states still change in
// place); what arrives meanwhile is counted beside the page's count and shown when they are let go.
// A pointer left resting on the list lets go after HOLD_MS: the list stays live for a user reading it.
const HOLD_MS = 1500;
let pointerOnRows = false;
let pointerMovedAt = 0;
let holdTimer = 0;
let hiddenNew = 0;

/** Are the rows held (the pointer moving over them, or keyboard focus in them)? */
function listHeld() {
  const active = document.activeElement;
  const aiming = pointerOnRows && performance.now() - pointerMovedAt < HOLD_MS;
  return aiming || (active !== null && byId('rows').contains(active) && active.matches(':focus-visible'));
}

let pointerAt = '';
/** The pointer moved over the rows (not the browser's own move event after rows were drawn again under a still pointer). */
function pointerMoved(/** @type {PointerEvent} */ e) {
  pointerOnRows = true;
  const at = `${e.clientX},${e.clientY}`;
  if (e.type === 'pointermove' && at === pointerAt) return;
  pointerAt = at;
  pointerMovedAt = performance.now();
  clearTimeout(holdTimer);
  holdTimer = window.setTimeout(letGo, HOLD_MS);
}

/** Drawn while held: what changed meanwhile (new rows, rows that left the filter) is shown once let go. */
let heldBack = false;
function letGo() {
  if (!heldBack || listHeld()) return;
  heldBack = false;
  renderRows({ live: true });
}

/** Where keyboard focus is inside the rows (a row's link or button), to put it back after they are drawn again. */
function focusInRows() {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || !byId('rows').contains(active)) return null;
  const row = active.closest('tr');
  return row ? { id: row.dataset.id, tag: active.tagName, cls: active.className, text: active.textContent } : null;
}

function restoreFocus(at) {
  if (!at) return;
  const row = byId('rows').querySelector(`tr[data-id="${CSS.escape(at.id ?? '')}"]`);
  const same = row && [...row.querySelectorAll(at.tag)].find((e) => e.className === at.cls && e.textContent === at.text);
  const target = same ?? row?.querySelector('a, button');
  if (target instanceof HTMLElement) target.focus({ preventScroll: true });
}

// Rendering waits for the next frame: a burst of changes costs one layout, not one per change.
let frame = 0;
let fullRender = false;
const dirtyRows = new Set();
let liveRender = false;
function scheduleRender(id, live = false) {
  if (id) dirtyRows.add(id);
  else fullRender = true;
  if (!id && live) liveRender = true;
  frame ||= requestAnimationFrame(() => {
    frame = 0;
    if (fullRender) renderRows({ live: liveRender });
    else for (const rowId of dirtyRows) renderRow(rowId);
    fullRender = false;
    liveRender = false;
    dirtyRows.clear();
  });
}

const rowOptions = () => ({ selected: false, open: openDetail, act });

function renderRow(id) {
  const task = state.page.rows.find((row) => row.id === id);
  const old = byId('rows').querySelector(`tr[data-id="${CSS.escape(id)}"]`);
  if (!task || !old) return;
  const focus = focusInRows();
  old.replaceWith(taskRow(task, { ...rowOptions(), selected: id === state.detail.id }));
  restoreFocus(focus);
}

/**
 * Draws the page's rows. `live`: drawn for changes that arrived; while the rows are held
 * (listHeld) only those on screen are drawn again, in place, and the new ones are counted.
 */
function renderRows({ live = false } = {}) {
  const shown = new Set([...byId('rows').children].map((tr) => /** @type {HTMLElement} */ (tr).dataset.id));
  const held = live && shown.size > 0 && listHeld();
  // The first page grew past MAX_ROWS by insertions: read it again (not while held: it would move the rows).
  if (live && !held && state.page.rows.length > MAX_ROWS) return void loadPage('first', null);
  // Let go: the rows that stopped matching leave (held, they stay where they are).
  if (live && !held) dropUnmatched(state.page, state.filter);
  const { rows, pageInfo, first } = state.page;
  const drawn = held ? rows.filter((task) => shown.has(task.id)) : rows;
  if (held) heldBack = true;
  hiddenNew = held ? rows.filter((task) => !shown.has(task.id) && matches(task, state.filter)).length : 0;
  const focus = focusInRows();
  byId('rows').replaceChildren(...drawn.map((task) => taskRow(task, { ...rowOptions(), selected: task.id === state.detail.id })));
  restoreFocus(focus);
  byId('empty').hidden = rows.length > 0;
  /** @type {HTMLButtonElement} */ (byId('newer')).disabled = first || !pageInfo?.hasPreviousPage;
  /** @type {HTMLButtonElement} */ (byId('newest')).disabled = first;
  /** @type {HTMLButtonElement} */ (byId('older')).disabled = !pageInfo?.hasNextPage;
  renderPageInfo();
  listDrawn = true;
  const panel = revealAfterRows;
  revealAfterRows = undefined;
  if (panel && !panel.hidden) revealPanel(panel);
}

/** Whether the list's first page has been drawn; the panel opened before it, to bring into view then (revealPanel). */
let listDrawn = false;
/** @type {HTMLElement | undefined} */
let revealAfterRows;

function renderPageInfo() {
  const { rows, totalCount, first } = state.page;
  const where = first ? 'newest' : 'page';
  const counted = totalCount === null || rows.length === 0 ? '' : `${rows.length} ${where} of ${totalCount} matching`;
  const waiting = hiddenNew > 0 ? `${hiddenNew} new above, shown when the pointer rests or leaves the list` : '';
  byId('page-info').textContent = [counted, first ? 'live' : '', waiting].filter(Boolean).join(' · ');
}

// ---- queue counts: read again after changes, at most one read in flight ----------------------

// The live page's "N matching": its own rows move it as they enter and leave the filter, but tasks
// off the page do too (an older PENDING task that starts), unseen: read again at most every 2 s.
const RECOUNT_MS = 2000;
let countedAt = 0;
let recounting = false;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let recountLater;
async function recount(again = false) {
  const page = state.page;
  if (!page.first || page.totalCount === null) return;
  if (recounting || (!again && Date.now() - countedAt < RECOUNT_MS)) {
    // Read just now, or being read: once more when the interval is over, so that the last change is
    // in a count (a change off the page moves it unseen, and nothing else may come to read it again).
    recountLater ??= setTimeout(() => {
      recountLater = undefined;
      void recount(true);
    }, Math.max(0, countedAt + RECOUNT_MS - Date.now()));
    return;
  }
  recounting = true;
  countedAt = Date.now();
  const changes = page.countChanges;
  const { data } = await request(COUNT, { filter: toTaskFilter(state.filter) });
  recounting = false;
  if (data && state.page === page) {
    page.totalCount = data.tasks.totalCount;
    renderPageInfo();
  }
  // A change counted on the page while this read was under way may be in its count or not (it
  // read one off): once more when they have settled, whatever else arrives.
  if (state.page === page && page.countChanges !== changes) setTimeout(() => void recount(true), RECOUNT_MS);
}

let statsBusy = false;
let statsAgain = false;
async function refreshStats() {
  if (statsBusy) {
    statsAgain = true;
    return;
  }
  statsBusy = true;
  const [{ data }] = await Promise.all([request(STATS), recount()]);
  if (data) renderQueues(data.queueStats);
  // Spaced a little: under a stream of changes the counts follow within a quarter second.
  setTimeout(() => {
    statsBusy = false;
    if (statsAgain) {
      statsAgain = false;
      void refreshStats();
    }
  }, 250);
}

function renderQueues(stats) {
  state.queues = stats;
  byId('queue-rows').replaceChildren(...queueRows(stats, { current: state.filter.queue, pick: (queue) => setFilter({ queue: state.filter.queue === queue ? '' : queue }) }));
  const select = /** @type {HTMLSelectElement} */ (byId('queue-filter'));
  const names = [...new Set([...stats.map((q) => q.queue), state.filter.queue].filter(Boolean))].sort();
  select.replaceChildren(el('option', { value: '' }, 'All queues'), ...names.map((name) => el('option', { value: name }, name)));
  select.value = state.filter.queue;
}

// ---- filters and pages ------------------------------------------------------------------------

function setFilter(patch) {
  Object.assign(state.filter, patch);
  writeFilter();
  renderFilter();
  if (state.queues.length) renderQueues(state.queues);
  void loadPage('first', null);
}

function renderFilter() {
  byId('status-filter').replaceChildren(
    ...STATUSES.map((status) => {
      const on = state.filter.status.includes(status);
      const toggle = () => setFilter({ status: on ? state.filter.status.filter((s) => s !== status) : [...state.filter.status, status] });
      return el('button', { type: 'button', class: `chip status-${status.toLowerCase()}`, 'aria-pressed': String(on), data: { status }, on: { click: toggle } }, status.toLowerCase());
    }),
  );
  /** @type {HTMLInputElement} */ (byId('name-filter')).value = state.filter.name;
}

// ---- detail -------------------------------------------------------------------------------------

function openDetail(id) {
  location.hash = `task=${id}`;
}

function closeDetail() {
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  showDetail(null);
}

/** `#task=<id>` opens a task, `#workflow=<id>` a workflow's graph (workflow.js), in the same panel. */
function route() {
  const workflow = location.hash.match(/^#workflow=([\w-]+)$/)?.[1];
  // A graph needs more room than a task's fields: the panel widens while it shows one.
  document.body.classList.toggle('with-workflow', Boolean(workflow));
  if (!workflow) return showDetail(location.hash.match(/^#task=([\w-]+)$/)?.[1] ?? null);
  showDetail(null);
  const panel = byId('detail');
  panel.hidden = false;
  document.body.classList.add('with-detail');
  state.detail.close = showWorkflow(panel, workflow, { close: closeDetail, openTask: openDetail, notice });
  revealPanel(panel);
}

function showDetail(id) {
  state.detail.close();
  state.detail = { id, close: () => {}, outdatedBy: undefined };
  const panel = byId('detail');
  panel.hidden = !id;
  document.body.classList.toggle('with-detail', Boolean(id));
  for (const tr of byId('rows').querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.id === id);
  if (id) {
    const shown = showTask(panel, id, { act, close: closeDetail, change });
    state.detail.close = shown.stop;
    state.detail.outdatedBy = shown.outdatedBy;
  }
  if (id) revealPanel(panel);
}

/**
 * Brings an opened panel into view and the keyboard's focus into it: in one column (a narrow window)
 * it opens below the whole list, where a click on a row seemed to do nothing.
 */
function revealPanel(/** @type {HTMLElement} */ panel) {
  // Opened from a link before the list's first page is drawn: that page then pushes the panel down,
  // below the fold, so it is brought into view again once the rows are in (renderRows).
  if (!listDrawn) revealAfterRows = panel;
  if (panel.getBoundingClientRect().top > window.innerHeight) panel.scrollIntoView({ block: 'start' });
  if (!panel.hasAttribute('tabindex')) panel.setAttribute('tabindex', '-1');
  panel.focus({ preventScroll: true });
}

// ---- actions ------------------------------------------------------------------------------------

/** Each row action: its mutation, the field answering it, and what its notices say. */
const ACTIONS = {
  cancel: { document: CANCEL, field: 'cancelTask', failed: 'Cancel', done: 'Cancel requested for' },
  retry: { document: RETRY, field: 'retryTask', failed: 'Retry', done: 'Retrying' },
  'run-now': { document: RUN_NOW, field: 'runTaskNow', failed: 'Run now', done: 'Due now:' },
};

async function act(action, task, button) {
  const a = ACTIONS[action];
  if (button) button.disabled = true;
  const { data, errors } = await request(a.document, { id: task.id });
  if (errors?.length) {
    notice(`${a.failed} failed: ${errors[0].message} (${errorCode(errors)})`, 'error');
    if (button) button.disabled = false;
    return;
  }
  const updated = data[a.field];
  change(updated);
  notice(`${a.done} ${updated.name} ${updated.id.slice(-8)}`);
}

async function enqueue(event) {
  event.preventDefault();
  const error = byId('enqueue-error');
  const read = readEnqueueInput(event.currentTarget);
  error.textContent = read.error ?? '';
  if (!read.input) return;
  const { data, errors } = await request(ENQUEUE, { input: read.input });
  if (errors?.length) {
    error.textContent = describeErrors(errors);
    return;
  }
  const task = data.enqueueTask.task;
  change(task);
  notice(`Enqueued ${task.name} ${task.id.slice(-8)}`);
}

// ---- start --------------------------------------------------------------------------------------

function listen() {
  let connected = false;
  subscribe(CHANGES, {}, {
    open() {
      setLive('on', 'live');
      connectionBack();
      // First connection, or back after a drop: read what may have changed meanwhile.
      void loadPage(connected ? state.page.mode : 'first', connected ? state.page.cursor : null);
      void refreshStats();
      connected = true;
    },
    next(data) {
      if (!data) return;
      change(data.taskStatusChanged);
      void refreshStats();
    },
    // A refused stream says so before it waits for the sign-in, and when another request was
    // refused first, the sign-in already asked for does not announce itself again: the indicator
    // keeps saying a sign-in is needed rather than "reconnecting…" under the dialog.
    reconnecting: () => {
      if (signInAwaited()) return;
      setLive('off', 'reconnecting…');
      connectionLost();
    },
    // The server ended the stream (it is shutting down): try again in a moment. Refused for this
    // credential (a read token, a key without tasks:read): asking again would be refused again,
    // every 2 s for ever; a sign-in with another credential listens again (taskwire:scopes).
    complete(errors) {
      if (errorCode(errors) === 'FORBIDDEN') {
        listRefused = true;
        setLive('off', 'no task list for this credential');
        connectionBack();
        return;
      }
      setLive('off', 'disconnected; retrying…');
      connectionLost();
      setTimeout(listen, 2000);
    },
  });
}

/** The list's stream was refused FORBIDDEN: not listening until the credential changes. */
let listRefused = false;

function init() {
  renderFilter();
  byId('queue-filter').addEventListener('change', (e) => setFilter({ queue: /** @type {HTMLSelectElement} */ (e.target).value }));
  byId('name-filter').addEventListener('change', (e) => setFilter({ name: /** @type {HTMLInputElement} */ (e.target).value.trim() }));
  byId('clear-filter').addEventListener('click', () => setFilter({ status: [], queue: '', name: '' }));
  byId('newer').addEventListener('click', () => void loadPage('before', state.page.pageInfo?.startCursor));
  byId('older').addEventListener('click', () => void loadPage('after', state.page.pageInfo?.endCursor));
  byId('newest').addEventListener('click', () => void loadPage('first', null));
  document.addEventListener('taskwire:scopes', () => {
    if (listRefused) {
      listRefused = false;
      listen();
    }
    /** @type {HTMLElement} */ (byId('bulk-cancel')).hidden = !may('tasks:cancel');
    /** @type {HTMLElement} */ (byId('bulk-retry')).hidden = !may('tasks:retry');
    /** @type {HTMLElement} */ (byId('toggle-enqueue')).hidden = !may('tasks:enqueue');
    renderRows();
    if (state.queues) renderQueues(state.queues);
    if (state.detail.id) showDetail(state.detail.id);
  });
  const rowsEl = byId('rows');
  rowsEl.addEventListener('pointerenter', pointerMoved);
  rowsEl.addEventListener('pointermove', pointerMoved);
  rowsEl.addEventListener('pointerleave', () => {
    pointerOnRows = false;
    clearTimeout(holdTimer);
    letGo();
  });
  // After the focus has moved: the element it left is no longer document.activeElement.
  rowsEl.addEventListener('focusout', () => setTimeout(letGo));
  byId('enqueue').addEventListener('submit', enqueue);
  byId('toggle-enqueue').addEventListener('click', (e) => {
    const form = byId('enqueue');
    form.hidden = !form.hidden;
    /** @type {HTMLElement} */ (e.currentTarget).setAttribute('aria-expanded', String(!form.hidden));
  });
  window.addEventListener('hashchange', route);
  // Escape closes the panel, a task's detail or a workflow's graph (keys typed in a field are theirs).
  document.addEventListener('keydown', (e) => e.key === 'Escape' && !byId('detail').hidden && !(e.target instanceof Element && e.target.closest('input, textarea, select')) && closeDetail());
  // Running tasks' run times and the queues' oldest waiting ages tick from the database's clock as
  // estimated (clock.js): nothing is fetched for it.
  setInterval(() => {
    for (const cell of document.querySelectorAll('.elapsed')) cell.textContent = duration(between(/** @type {HTMLElement} */ (cell).dataset.since));
  }, 1000);
  // The lists and counts bring a clock sample with every read; a quiet page still takes one now and then.
  setInterval(() => {
    if (document.visibilityState === 'visible') void request(CLOCK);
  }, CLOCK_SAMPLE_MS);
  void fetch('/dashboard/tasks.json').then((r) => r.json()).then(({ names }) => {
    byId('task-names').replaceChildren(...names.map((name) => el('option', { value: name })));
  });
  initSignIn({ needed: () => setLive('off', 'sign-in needed') });
  listen();
  route();
}

init();
