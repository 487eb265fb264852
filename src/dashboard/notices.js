// @ts-check
/**
 * What an action did (`Retrying demo.fail 5dbd6725`, or why it failed), for every part of the page:
 * the task list, the detail, the workflow view, the schedules and flow-control panels (one home:
 * there were three copies). One notice shows at a time, the newest over any older ones still due,
 * in a strip at the bottom left that the page keeps free below its last control (style.css, "notices").
 */
import { el } from './render.js';

/** How long a notice shows, in ms: an error is read, not glanced at. */
export const NOTICE_MS = { info: 4000, error: 8000 };

/** Shows `text` for NOTICE_MS[kind]; a click dismisses it (and shows the one under it, if any). */
export function notice(text, kind = 'info') {
  const list = document.getElementById('notices');
  if (!list) return;
  // The whole text as its tooltip too: the notice shows two lines at most.
  const item = el('div', { class: `notice ${kind}`, title: `${text}\n(click to dismiss)`, on: { click: () => item.remove() } }, text);
  list.append(item);
  setTimeout(() => item.remove(), NOTICE_MS[kind] ?? NOTICE_MS.info);
}
