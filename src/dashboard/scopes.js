// @ts-check
/**
 * What the signed-in credential may do (`Viewer.scopes`), so that the page offers only actions that
 * can work: a `tasks:read` key was shown every Retry, Pause and Run now, each answering FORBIDDEN
 * after the click. Unknown (auth off, or not read yet): everything is offered, and the server
 * still decides (a refused action says so in a notice).
 */

/** @type {string[] | null} */
let scopes = null;

/** Sets the scopes (null: unknown) and tells the page to draw its actions again. */
export function setScopes(/** @type {string[] | null} */ list) {
  scopes = list;
  document.dispatchEvent(new Event('taskwire:scopes'));
}

/**
 * Whether the credential has `scope` (`admin` has every one). `tasks:enqueue` is met by a scope
 * for some names (`tasks:enqueue:reports.*`): the server checks the name itself.
 */
export function may(/** @type {string} */ scope) {
  if (scopes === null) return true;
  if (scopes.includes('admin') || scopes.includes(scope)) return true;
  return scope === 'tasks:enqueue' && scopes.some((s) => s.startsWith('tasks:enqueue:'));
}
