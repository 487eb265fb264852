// @ts-check
/**
 * The sign-in dialog and the "signed in as … / Sign out" control. The dialog opens only when
 * the server refuses the credential (UNAUTHENTICATED): with auth off none of this shows. The
 * token typed in is checked with one `viewer` query before it is kept, so a wrong one is
 * reported in the dialog instead of failing every request behind it.
 */
import { errorCode, requestWith, request, VIEWER } from './api.js';
import { setScopes } from './scopes.js';
import { currentToken, normalizeToken, onSignInNeeded, signIn, signOut } from './session.js';

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** What the top bar says of a principal: `name · tenant`, its id without a name (kind for read tokens). */
function describe(viewer) {
  if (!viewer) return 'signed in';
  const kind = viewer.kind === 'READ_TOKEN' ? ' (read token)' : '';
  // A key's name when it has one (its UUID says nothing to a person); the id is the tooltip.
  return `signed in as ${viewer.name ?? viewer.id}${kind} · ${viewer.tenant}`;
}

/** Shows who is signed in, and the sign-out control, while a token is kept. */
function showViewer(viewer) {
  const signedIn = currentToken() !== null;
  // Until the viewer is read (null), every action stays offered.
  setScopes(signedIn && viewer ? viewer.scopes : null);
  const who = byId('viewer');
  who.hidden = !signedIn;
  who.textContent = signedIn ? describe(viewer) : '';
  // The whole text: on a narrow top bar it is cut short (style.css, "top bar").
  who.title = signedIn && viewer ? `${describe(viewer)}${viewer.name ? ` (${viewer.id})` : ''}` : '';
  byId('sign-out').hidden = !signedIn;
}

/** A refusal of the check, as the dialog says it; null when the token can be kept. */
function refusal(errors) {
  if (!errors?.length) return null;
  const code = errorCode(errors);
  // A server without `viewer` still authenticated the request before validating it.
  if (code === 'GRAPHQL_VALIDATION_FAILED') return null;
  if (code === 'UNAUTHENTICATED') return 'This token was refused: it is wrong, expired or revoked.';
  if (code === 'RATE_LIMITED') {
    const ms = Number(errors[0].extensions?.retryAfterMs);
    return `Too many attempts: try again${Number.isFinite(ms) ? ` in ${Math.ceil(ms / 1000)} s` : ' later'}.`;
  }
  return `${errors[0].message} (${code})`;
}

/**
 * Wires the dialog and the control. `needed()` runs when a sign-in becomes needed (the page
 * shows it in its live indicator).
 */
export function initSignIn({ needed }) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('sign-in'));
  const form = /** @type {HTMLFormElement} */ (byId('sign-in-form'));
  const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('token'));
  const error = byId('sign-in-error');
  const submit = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));

  onSignInNeeded((reason) => {
    byId('sign-in-reason').textContent = reason;
    error.textContent = '';
    if (!dialog.open) dialog.showModal();
    input.focus();
    needed();
  });
  // Nothing works without a token: Escape does not close the dialog.
  dialog.addEventListener('cancel', (event) => event.preventDefault());

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = normalizeToken(input.value);
    if (!token) {
      error.textContent = 'Paste an API key or a token.';
      return;
    }
    submit.disabled = true;
    const { data, errors } = await requestWith(token, VIEWER);
    submit.disabled = false;
    const refused = refusal(errors);
    if (refused) {
      error.textContent = refused;
      input.select();
      return;
    }
    input.value = '';
    dialog.close();
    signIn(token);
    showViewer(data?.viewer ?? null);
  });

  byId('sign-out').addEventListener('click', () => {
    signOut();
    // A fresh page: no stream or request keeps going on the old token.
    location.reload();
  });

  if (currentToken() !== null) {
    showViewer(null);
    void request(VIEWER).then(({ data }) => showViewer(data?.viewer ?? null));
  }
}
