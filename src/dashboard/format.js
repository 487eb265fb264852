// @ts-check
/** Formatting helpers of the dashboard: pure functions, text in, text out. */

/** A duration in ms, short and readable: 850 ms, 1.2 s, 3 m 05 s, 2 h 10 m. */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** Milliseconds between two ISO timestamps (`to` defaults to now), or null. */
export function between(from, to) {
  if (!from) return null;
  const end = to ? Date.parse(to) : Date.now();
  return end - Date.parse(from);
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateAndTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

/** An ISO timestamp in local time: the time of day for today, with the date otherwise. */
export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOfDay.format(d) : dateAndTime.format(d);
}

/** Local time with milliseconds (and the date unless today), for the detail view. */
export function preciseTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${time(iso)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The last 8 hex digits of a UUID v7 (its first ones are the timestamp, alike for neighbours). */
export function shortId(id) {
  return id.replace(/-/g, '').slice(-8);
}

/** Any JSON value, indented; `undefined`/null as "null". */
export function json(value) {
  return JSON.stringify(value ?? null, null, 2);
}

/** One-line JSON for a table cell, clipped. */
export function inlineJson(value, max = 80) {
  const text = JSON.stringify(value ?? null);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** 0..1 progress of a task, or null when there is nothing to show. */
export function fraction(task) {
  if (task.status === 'SUCCEEDED') return 1;
  const p = task.progress;
  if (!p || p.current === null || p.total === null || !(p.total > 0)) return null;
  return Math.min(1, Math.max(0, p.current / p.total));
}
