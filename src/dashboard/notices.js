// @ts-check
/**
 * What an action did (`Retrying demo.fail 5dbd6725`, or why it failed), for every part of the page:
 * the task list, the detail, the workflow view, the schedules and flow-control panels. One home:
 * the three copies there were (app.js, queues.js, schedules.js) had to be moved together.
 */
import { el } from './render.js';

/** How long a notice shows, in ms: an error is read, not glanced at. */
export const NOTICE_MS = { info: 4000, error: 8000 };

/** Shows `text` for NOTICE_MS[kind] at the bottom left (style.css, "notices"); a click dismisses it. */
export function notice(text, kind = 'info') {
  const list = document.getElementById('notices');
  if (!list) return;
  const item = el('div', { class: `notice ${kind}`, title: 'Dismiss', on: { click: () => item.remove() } }, text);
  list.append(item);
  setTimeout(() => item.remove(), NOTICE_MS[kind] ?? NOTICE_MS.info);
}
