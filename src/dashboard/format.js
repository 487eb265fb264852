// @ts-check
/** Formatting helpers of the dashboard: pure functions, text in, text out (now is the database's: clock.js). */
import { serverNow } from './clock.js';

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

/**
 * Milliseconds between two ISO timestamps, or null. `to` defaults to now on the database's clock,
 * which the stamps were read from, not the browser's (clock.js).
 */
export function between(from, to) {
  if (!from) return null;
  const end = to ? Date.parse(to) : serverNow();
  return end - Date.parse(from);
}

/**
 * Every time the dashboard shows is the browser's local time and says its zone (`14:03:22 CET`,
 * `GMT+2`, `UTC`: Intl's short name for the locale), per instant, so a time past a DST change says
 * the other offset. A schedule's next run is computed in the schedule's own zone, and a bare local
 * time beside that zone's name read as either one.
 */
const CLOCK = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZoneName: 'short' };
const DATE = { month: 'short', day: 'numeric' };
const MS = { fractionalSecondDigits: 3 };
const timeOfDay = new Intl.DateTimeFormat(undefined, CLOCK);
const dateAndTime = new Intl.DateTimeFormat(undefined, { ...DATE, ...CLOCK });
const preciseTimeOfDay = new Intl.DateTimeFormat(undefined, { ...CLOCK, ...MS });
const preciseDateAndTime = new Intl.DateTimeFormat(undefined, { ...DATE, ...CLOCK, ...MS });

const isToday = (d) => d.toDateString() === new Date(serverNow()).toDateString();

/** An ISO timestamp in local time with its zone: the time of day for today, with the date otherwise. */
export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return (isToday(d) ? timeOfDay : dateAndTime).format(d);
}

/** Local time with milliseconds and its zone (and the date unless today), for the detail view. */
export function preciseTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return (isToday(d) ? preciseTimeOfDay : preciseDateAndTime).format(d);
}

/** The last 8 hex digits of a UUID v7 (its first ones are the timestamp, alike for neighbours). */
export function shortId(id) {
  return id.replace(/-/g, '').slice(-8);
}

/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): one in a string
 * (args `["\u202eevil"]`) reorders the rest of its line as displayed, so text can pose as other text.
 * They can only occur inside JSON strings, where the `\u202e` escape shown instead is the same JSON.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/** JSON text with its bidi controls written as escapes (`\u202e`), so that it shows in stored order. */
function withoutBidi(text) {
  return text.replace(BIDI_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** Any JSON value, indented; `undefined`/null as "null". Bidi controls shown escaped. */
export function json(value) {
  return withoutBidi(JSON.stringify(value ?? null, null, 2));
}

/** One-line JSON for a table cell, clipped (never between the halves of a surrogate pair). Bidi controls shown escaped. */
export function inlineJson(value, max = 80) {
  const text = withoutBidi(JSON.stringify(value ?? null));
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 2);
  const end = code >= 0xd800 && code <= 0xdbff ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/** 0..1 progress of a task, or null when there is nothing to show. */
export function fraction(task) {
  if (task.status === 'SUCCEEDED') return 1;
  const p = task.progress;
  if (!p || p.current === null || p.total === null || !(p.total > 0)) return null;
  return Math.min(1, Math.max(0, p.current / p.total));
}
