// @ts-check
/**
 * The detail panel of one task, on two streams:
 * - `taskStatusChanged(id)` for its fields: the current state first, then the latest state
 *   (conflated: a burst of changes costs one render a frame);
 * - `taskEvents(id, afterVersion)` for its timeline and output, where every event counts. It
 *   starts at the version the first state names, less the window (timeline.js LATEST), so a
 *   long log opens at its end; after a drop it resumes after the last version received, so
 *   nothing is missed and nothing shown twice. Earlier events are read in `Task.events` pages.
 */
import { EARLIER_EVENTS, errorCode, EVENTS, request, subscribe, subscribeResuming, versionCursor, WATCH } from './api.js';
import { detailSummary, detailTail, el } from './render.js';
import { appendEvents, createLog, earlierPage, LATEST, prependEvents, TERMINAL } from './timeline.js';
import { createTimelineView } from './timeline-view.js';

/**
 * The output and timeline of task `id`, following its events after version `from`.
 * Returns the view's `node` and `stop()`.
 */
function followEvents(id, from) {
  const view = createTimelineView({ loadEarlier: () => void loadEarlier() });
  const log = createLog(from);
  let received = from;
  let lastStatus = '';
  let failed = false;
  let stopped = false;
  /** Events received, shown at the next frame: a replay of a thousand costs one layout. */
  let pending = [];
  let frame = 0;
  const flush = () => {
    frame = 0;
    view.update(log, appendEvents(log, pending));
    pending = [];
  };
  view.refresh(log);

  // Resumes after the last version received: those not shown yet are, at the next frame.
  const stop = subscribeResuming(EVENTS, () => ({ id, afterVersion: received }), {
    open: () => view.setState('on', 'live'),
    next(data, errors) {
      if (errors?.length) {
        failed = true;
        view.setState('error', `${errors[0].message} (${errorCode(errors)})`);
        return;
      }
      const event = data.taskEvents;
      if (event.version <= received) return;
      received = event.version;
      lastStatus = event.status;
      pending.push(event);
      frame ||= requestAnimationFrame(flush);
    },
    // The server ends the stream after a terminal event; any other end (a server shutting
    // down) is a drop to resume from.
    final: () => failed || TERMINAL.includes(lastStatus),
    reconnecting: () => view.setState('off', 'reconnecting…'),
    complete: () => {
      if (failed) return;
      // "finished" claims the whole log is on screen: events still waiting for their frame
      // (a finished task's replay ends in the same burst as it starts) are shown first.
      if (frame) {
        cancelAnimationFrame(frame);
        flush();
      }
      view.setState('ended', 'finished');
    },
  });

  async function loadEarlier() {
    const page = earlierPage(log, LATEST);
    if (!page) return;
    view.loading();
    const { data, errors } = await request(EARLIER_EVENTS, { id, first: page.first, after: page.after > 0 ? versionCursor(page.after) : null });
    if (stopped) return;
    if (errors?.length || !data?.taskResult) {
      view.earlierFailed(errors?.length ? `Could not read earlier events: ${errors[0].message} (${errorCode(errors)})` : 'The task is gone.');
      return;
    }
    view.prepend(log, prependEvents(log, data.taskResult.events.edges.map((edge) => edge.node)));
  }

  const stopAll = () => {
    stopped = true;
    stop();
    cancelAnimationFrame(frame);
  };
  return { node: view.node, stop: stopAll };
}

/**
 * Fills `panel` with task `id` and follows it. `act(action, task, button)` runs cancel or retry,
 * `close()` closes the panel, `change(task)` hands each new state to the task list.
 * Returns `stop()`, which ends both streams, and `outdatedBy(task)`: whether a state of this task
 * seen elsewhere (the list's stream) is newer than the one shown after the streams ended at a
 * terminal state — a task retried by someone else (the API, another operator, a bulk retry), to
 * be shown afresh.
 */
export function showTask(panel, id, { act, close, change }) {
  panel.replaceChildren(el('p', { class: 'muted pad' }, 'Loading…'));
  let task = /** @type {any} */ (null);
  let ended = false;
  let body = /** @type {{root: HTMLElement, summary: HTMLElement, tail: HTMLElement} | null} */ (null);
  let stopEvents = () => {};
  let stopped = false;
  let frame = 0;

  const render = () => {
    frame = 0;
    if (!body) return;
    body.root.dataset.status = task.status;
    // A traceback the user opened stays open while the task keeps changing.
    const open = [...body.summary.querySelectorAll('details')].map((d) => d.open);
    body.summary.replaceChildren(...detailSummary(task, { act, close }));
    body.summary.querySelectorAll('details').forEach((d, i) => (d.open = open[i] ?? false));
    body.tail.replaceChildren(...detailTail(task));
  };

  const start = () => {
    const events = followEvents(id, Math.max(0, task.version - LATEST));
    stopEvents = events.stop;
    body = { root: el('div', { class: 'detail-body', data: { id } }), summary: el('div', { class: 'detail-summary' }), tail: el('div', { class: 'detail-tail' }) };
    body.root.append(body.summary, events.node, body.tail);
    render();
    panel.replaceChildren(body.root);
  };

  const stopWatch = subscribe(WATCH, { id }, {
    next(data, errors) {
      if (stopped) return;
      if (errors?.length) {
        const missing = errorCode(errors) === 'NOT_FOUND' || errorCode(errors) === 'BAD_USER_INPUT';
        stopEvents();
        body = null;
        panel.replaceChildren(el('div', { class: 'pad' }, el('p', {}, missing ? 'No such task (it may have expired).' : errors[0].message), el('button', { type: 'button', class: 'secondary', on: { click: close } }, 'Close')));
        return;
      }
      task = data.taskStatusChanged;
      change(task);
      if (!body) start();
      else frame ||= requestAnimationFrame(render);
    },
    // After the terminal state (or a refusal): what changes later reaches only the list.
    complete: () => (ended = true),
  });

  return {
    stop: () => {
      stopped = true;
      stopWatch();
      stopEvents();
      cancelAnimationFrame(frame);
    },
    outdatedBy: (/** @type {{ id: string, version: number }} */ other) => ended && task !== null && other.id === id && other.version > task.version,
  };
}
