// @ts-check
/**
 * A task's event log as the detail view holds it: the latest events, oldest first. No DOM here.
 *
 * Versions are the task's own sequence (1 = ENQUEUED, then 2, 3, … with no gap), so the log
 * knows without counting that versions 1..`after` exist and are not held, and a stream resumed
 * with `afterVersion: last` continues exactly where it stopped. The log is a window: it holds
 * at most `limit` events, dropping the oldest as new ones arrive, so a task writing output for
 * hours costs the page a bounded amount; loading earlier events widens the window by as many.
 */

/** Events held from the live end when a detail opens (and the page size of "load earlier"). */
export const LATEST = 1000;

/** Statuses after which a task's event stream ends. */
export const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * A log holding the events after version `after` (0: from the first), at most `limit` of them.
 * `last` is the newest version held, or `after` while none is: where a stream resumes.
 */
export function createLog(after = 0, limit = LATEST) {
  return { limit, after, last: after, events: /** @type {any[]} */ ([]) };
}

/**
 * Appends events from the stream, oldest first. A version already held is skipped: the stream
 * sends each once, and this keeps a reconnect from ever showing one twice. Past `limit`, the
 * oldest events leave. Returns `{added, dropped}`: the events appended, and those that left
 * the front (possibly some just added, when one batch is longer than the window).
 */
export function appendEvents(log, events) {
  const added = [];
  for (const event of events) {
    if (event.version <= log.last) continue;
    log.events.push(event);
    log.last = event.version;
    added.push(event);
  }
  const over = log.events.length - log.limit;
  const dropped = over > 0 ? log.events.splice(0, over) : [];
  if (dropped.length) log.after = log.events[0].version - 1;
  return { added, dropped };
}

/**
 * The page to read to show earlier events: `{after, first}` for `Task.events` (the versions
 * `after + 1 .. log.after`), or null when the log starts at version 1.
 */
export function earlierPage(log, size = LATEST) {
  if (log.after <= 0) return null;
  const first = Math.min(size, log.after);
  return { after: log.after - first, first };
}

/**
 * Puts a page of earlier events (oldest first, ending at version `log.after`) in front and
 * widens the window by as many, so the next live events do not push them out again. Returns
 * the events put in front; none if the page does not end where the log starts (the window
 * moved while it was read: the caller may ask again).
 */
export function prependEvents(log, events) {
  const page = events.filter((e) => e.version <= log.after);
  if (page.length === 0 || page[page.length - 1].version !== log.after) return [];
  log.events.unshift(...page);
  log.after = page[0].version - 1;
  log.limit += page.length;
  return page;
}

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The marker that ends a task's output when it reached MAX_OUTPUT_BYTES: `{truncated: true}`. */
export function isTruncation(output) {
  return isObject(output) && output.truncated === true && Object.keys(output).length === 1;
}

/** An output chunk as a line of text: a string as it is, an object's `text` string, else JSON. */
export function outputText(output) {
  if (typeof output === 'string') return output;
  if (isObject(output) && typeof output.text === 'string') return output.text;
  return JSON.stringify(output ?? null);
}

const clip = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** What the timeline says of an event besides its type: the error, the progress, the output. */
export function eventNote(event, max = 120) {
  if (event.error) return clip(`${event.error.exceptionType}: ${event.error.message}`, max);
  if (event.type === 'OUTPUT') return isTruncation(event.output) ? 'output truncated (MAX_OUTPUT_BYTES)' : clip(outputText(event.output), max);
  const p = event.progress;
  if (p) return clip(`${p.current ?? '?'}/${p.total ?? '?'}${p.message ? ` · ${p.message}` : ''}`, max);
  return '';
}
