// @ts-check
/**
 * The dashboard's credential: a token (API key or JWT) the user typed in, kept in sessionStorage
 * (this tab only, gone when it closes; GraphiQL, same origin, reads it from there too:
 * graphiql-auth.js) and sent as `Authorization: Bearer` on every request and stream (api.js).
 *
 * While the server accepts what is sent (auth off, or a good token) nothing here shows. When it
 * answers UNAUTHENTICATED, every request and stream waits on one shared promise until the user
 * signs in (app.js shows the form), then tries again with the new token: nothing the page was
 * doing is lost, and no refused request is repeated in a loop.
 */

/** The sessionStorage key, shared with graphiql-auth.js. */
export const TOKEN_KEY = 'taskwire.token';

/** While a sign-in is awaited: the promise every refused caller waits on. */
let awaited = /** @type {{ promise: Promise<void>, resolve: () => void } | null} */ (null);
const listeners = /** @type {Set<(reason: string) => void>} */ (new Set());

/** The stored token, or null (none, or storage unavailable). */
export function currentToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** `{ authorization: 'Bearer …' }` for `token` (default: the stored one), or nothing. */
export function authHeaders(token = currentToken()) {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A pasted token without a `Bearer ` prefix or surrounding spaces. */
export function normalizeToken(text) {
  return String(text).trim().replace(/^bearer\s+/i, '').trim();
}

/** Stores `token` and lets every caller waiting for a sign-in try again with it. */
export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, normalizeToken(token));
  const done = awaited;
  awaited = null;
  done?.resolve();
}

/** Forgets the token (the caller reloads the page: nothing keeps running on the old one). */
export function signOut() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage unavailable: there was nothing stored either.
  }
}

/** True while a sign-in is awaited (the dialog is up and nothing is tried until it is answered). */
export function signInAwaited() {
  return awaited !== null && awaited !== undefined;
}

/** Resolves at once, or, while a sign-in is awaited, once the user has signed in. */
export function signedIn() {
  return awaited?.promise ?? Promise.resolve();
}

/**
 * The server refused `sent` (the token a request carried, null for none): asks for a sign-in,
 * once however many callers were refused, and resolves when there is a new token to try. A
 * refusal of a token already replaced (a request sent before the sign-in) resolves at once.
 */
export function signInNeeded(sent) {
  if (!awaited && currentToken() !== sent) return Promise.resolve();
  if (!awaited) {
    let resolve = () => {};
    const promise = new Promise((r) => (resolve = r));
    awaited = { promise: /** @type {Promise<void>} */ (promise), resolve };
    const reason = sent ? 'The server refused this token (expired, revoked or wrong).' : 'This server needs a token.';
    for (const listener of listeners) listener(reason);
  }
  return awaited.promise;
}

/** `listener(reason)` runs whenever a sign-in becomes needed. */
export function onSignInNeeded(listener) {
  listeners.add(listener);
}
