import { TaskwireClientError } from './errors.js';

/** The server's largest page (`tasks(first:)`, src/queue/list.ts): the client imports nothing of the server's. */
export const MAX_PAGE_SIZE = 100;
/** The longest delay a Node or browser timer keeps (2^31 − 1 ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A URL the client can reach, of one of `protocols`: an `ftp://` or a bare host was taken and
 * failed only at the first call, as a fetch error that did not name the option.
 */
export function checkUrl(field: string, value: string | undefined, protocols: readonly string[]): void {
  if (value === undefined) return;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const shown = JSON.stringify(withoutPassword(value));
  if (url === undefined || !protocols.includes(url.protocol)) {
    const schemes = protocols.map((p) => `${p}//`).join(' or ');
    throw new TaskwireClientError('BAD_USER_INPUT', `${field} must be an absolute ${schemes} URL, got ${shown}`, { field });
  }
  if (url.username !== '' || url.password !== '') {
    // fetch refuses such a URL at every request ("Request cannot be constructed from a URL that includes credentials").
    throw new TaskwireClientError('BAD_USER_INPUT', `${field} must not carry a user or password (fetch refuses it): give the credential with getToken or headers; got ${shown}`, { field });
  }
}

/** `value` with the password of a `user:password@` in it as `***`, for a message or a log. */
function withoutPassword(value: string): string {
  return value.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^/@:]*:)[^/@]*@/i, '$1***@');
}

/**
 * Refuses a numeric option the server never sees as the caller wrote it (a page size becomes
 * `first`, a timeout a timer): with BAD_USER_INPUT naming the option, before any request, rather
 * than one empty page for `pageSize: 0` or a RangeError from a timer.
 */
export function checkInteger(field: string, value: number | undefined, min: number, max: number): void {
  // Infinity passes where it is the bound: "no limit", as `limit` and `retry.attempts` mean by it.
  if (value === undefined || value === max || (Number.isInteger(value) && value >= min && value <= max)) return;
  const range = max === Number.POSITIVE_INFINITY ? `of ${min} or more` : `from ${min} to ${max}`;
  throw new TaskwireClientError('BAD_USER_INPUT', `${field} must be an integer ${range}, got ${String(value)}`, { field });
}

