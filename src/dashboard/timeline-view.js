// @ts-check
/**
 * The DOM of a task's log in the detail panel: the output (its OUTPUT chunks as lines, or string chunks run
 * together "as text") and the
 * timeline (every event), both fed from one log (timeline.js) and changed in place: rows are
 * appended, prepended or dropped, never rebuilt, so a scrolled box stays where the user left it.
 * Each box follows new lines only while it is scrolled to its bottom.
 */
import { preciseTime } from './format.js';
import { el, statusBadge } from './render.js';
import { eventNote, isTruncation, LATEST, outputText } from './timeline.js';

const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight <= 4;
const versionOf = (node) => Number(/** @type {HTMLElement} */ (node).dataset.version);

/** An event's row, and under it a row with its note (error, progress, output) across the columns. */
function eventRows(event) {
  const note = eventNote(event);
  const data = { version: String(event.version), type: event.type };
  const row = el('tr', { class: note ? 'event has-note' : 'event', data },
    el('td', { class: 'num muted' }, String(event.version)),
    el('td', { class: 'event' }, el('span', { class: 'type' }, event.type), ' ', statusBadge(event.status)),
    el('td', { class: 'num', title: event.at }, preciseTime(event.at)),
    el('td', { class: 'num' }, String(event.attempt)),
    el('td', { class: 'worker', title: event.workerId ?? null }, event.workerId ?? '—'),
  );
  if (!note) return [row];
  return [row, el('tr', { class: 'note-row', data }, el('td'), el('td', { colspan: 4, class: event.error ? 'note error-note' : 'note', title: note }, note))];
}

function outputLine(event) {
  const data = { version: String(event.version), attempt: String(event.attempt) };
  if (isTruncation(event.output)) return el('div', { class: 'line truncated', data }, 'Output truncated: the task reached its output cap (MAX_OUTPUT_BYTES).');
  // A string chunk is text as written: "as text" runs such chunks together (token streams).
  return el('div', { class: typeof event.output === 'string' ? 'line chunk text' : 'line chunk', data }, outputText(event.output));
}

/** Whether the output shows string chunks run together (as a terminal would), remembered across tasks. */
const AS_TEXT_KEY = 'taskwire.outputAsText';
function readAsText() {
  try {
    return localStorage.getItem(AS_TEXT_KEY) === '1';
  } catch {
    return false;
  }
}
function saveAsText(on) {
  try {
    localStorage.setItem(AS_TEXT_KEY, on ? '1' : '0');
  } catch {
    // Storage refused (private mode, quota): the choice lasts for this view only.
  }
}

/**
 * Builds the view. `loadEarlier()` is called by its "Load earlier" button. Returns `node` and
 * `update(log, {added, dropped})` after live events, `prepend(log, events)` after earlier ones,
 * `setState(kind, text)` for the stream's state, and `earlierFailed(text)`.
 */
export function createTimelineView({ loadEarlier }) {
  const earlierText = el('span', { class: 'muted' });
  const earlierButton = el('button', { type: 'button', class: 'secondary small', data: { action: 'earlier' }, on: { click: () => loadEarlier() } }, 'Load earlier');
  const earlier = el('div', { class: 'earlier', hidden: true }, earlierText, earlierButton);
  const output = el('div', { class: readAsText() ? 'output as-text' : 'output', role: 'log', 'aria-label': 'Output', tabindex: 0 });
  const asText = el('input', {
    type: 'checkbox',
    checked: output.classList.contains('as-text'),
    on: {
      change: (e) => {
        const on = e.currentTarget.checked;
        output.classList.toggle('as-text', on);
        saveAsText(on);
      },
    },
  });
  const rows = el('tbody');
  const table = el('table', { class: 'grid events' },
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col', class: 'num' }, '#'), el('th', { scope: 'col' }, 'Event · status after'),
      el('th', { scope: 'col', class: 'num' }, 'Time'), el('th', { scope: 'col', class: 'num', title: 'Attempt' }, 'Att.'),
      el('th', { scope: 'col' }, 'Worker'))),
    rows);
  const timeline = el('div', { class: 'timeline' }, table);
  const count = el('span', { class: 'muted' });
  const state = el('span', { class: 'log-state connecting', role: 'status' }, 'connecting…');
  const showOutput = el('input', { type: 'checkbox', checked: true, on: { change: (e) => table.classList.toggle('hide-output', !e.currentTarget.checked) } });
  const node = el('section', { class: 'task-log' },
    earlier,
    el('div', { class: 'log-head' }, el('h3', {}, 'Output'), state,
      el('label', { class: 'toggle', title: 'Run string chunks together, as a terminal shows them (a token stream reads as text)' }, asText, 'as text')),
    output,
    el('div', { class: 'log-head' }, el('h3', {}, 'Timeline'), count,
      el('label', { class: 'toggle' }, showOutput, 'output events')),
    timeline,
  );

  // Versions of the STARTED events seen. Each begins a run, and a run's first line gets the rule:
  // the attempt number alone misses a run that kept the attempt of one released or snoozed.
  const starts = new Set();
  const noteStarts = (events) => {
    for (const e of events) if (e.type === 'STARTED') starts.add(e.version);
  };
  const startsBetween = (from, to) => {
    let n = 0;
    for (const v of starts) if (v > from && v < to) n++;
    return n;
  };
  /** Labels the first line of each run ("attempt 2"): a STARTED event lies between it and the line before it. */
  const markRun = (line) => {
    if (!line) return;
    const prev = /** @type {HTMLElement | null} */ (line.previousElementSibling);
    const version = versionOf(line);
    // The box's first line: a later run's when another run is known to have started before it,
    // or (its STARTED out of the window) when its attempt is not the first.
    const fresh = prev ? startsBetween(versionOf(prev), version) > 0 : startsBetween(0, version) > 1 || line.dataset.attempt !== '1';
    line.classList.toggle('new-attempt', fresh);
  };

  const refresh = (log) => {
    earlier.hidden = log.after <= 0;
    earlierText.textContent = `${log.after.toLocaleString()} earlier ${log.after === 1 ? 'event' : 'events'} not shown`;
    earlierButton.textContent = `Load ${Math.min(LATEST, log.after).toLocaleString()} earlier`;
    count.textContent = `${log.last.toLocaleString()} ${log.last === 1 ? 'event' : 'events'}`;
  };

  return {
    node,
    update(log, { added }) {
      const followOutput = atBottom(output);
      const followTimeline = atBottom(timeline);
      rows.append(...added.flatMap(eventRows));
      noteStarts(added);
      for (const event of added) {
        if (event.type !== 'OUTPUT') continue;
        const line = outputLine(event);
        output.append(line);
        markRun(line);
      }
      // Events that left the window (timeline.js appendEvents): the oldest lines go.
      while (rows.firstElementChild && versionOf(rows.firstElementChild) <= log.after) rows.firstElementChild.remove();
      let trimmed = false;
      while (output.firstElementChild && versionOf(output.firstElementChild) <= log.after) {
        output.firstElementChild.remove();
        trimmed = true;
      }
      if (trimmed) markRun(/** @type {HTMLElement | null} */ (output.firstElementChild));
      if (followOutput) output.scrollTop = output.scrollHeight;
      if (followTimeline) timeline.scrollTop = timeline.scrollHeight;
      refresh(log);
    },
    prepend(log, events) {
      earlierButton.disabled = false;
      // Keep what the user is looking at in place: the content grows above it.
      const outputFromBottom = output.scrollHeight - output.scrollTop;
      const timelineFromBottom = timeline.scrollHeight - timeline.scrollTop;
      const junction = /** @type {HTMLElement | null} */ (output.firstElementChild);
      rows.prepend(...events.flatMap(eventRows));
      noteStarts(events);
      const lines = events.filter((e) => e.type === 'OUTPUT').map(outputLine);
      output.prepend(...lines);
      for (const line of [...lines, junction]) markRun(line);
      output.scrollTop = output.scrollHeight - outputFromBottom;
      timeline.scrollTop = timeline.scrollHeight - timelineFromBottom;
      refresh(log);
    },
    loading() {
      earlierButton.disabled = true;
    },
    earlierFailed(text) {
      earlierButton.disabled = false;
      earlierText.textContent = text;
    },
    setState(kind, text) {
      state.className = `log-state ${kind}`;
      state.textContent = text;
    },
    refresh,
  };
}
