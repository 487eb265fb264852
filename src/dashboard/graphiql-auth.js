// @ts-check
/**
 * GraphiQL's sign-in, loaded by its page before GraphiQL itself (serve.ts withGraphiQLSignIn):
 * a classic script, so it runs first and GraphiQL only ever sees the wrapped fetch and WebSocket.
 * - Every HTTP request of GraphiQL (the schema, queries, mutations) carries the token kept in
 *   sessionStorage under the dashboard's key (session.js), unless the headers editor sets an
 *   Authorization of its own.
 * - graphql-ws: the token goes into `connection_init` as `payload.authorization`, where the
 *   server reads it (a browser WebSocket cannot send headers).
 * - An answer of 401 (UNAUTHENTICATED), or a socket closed with 4403, opens a sign-in dialog;
 *   the token typed there is checked with one request, kept, and the page reloaded so that
 *   GraphiQL reads the schema and connects again with it. With auth off nothing shows.
 */
(() => {
  /** The dashboard's key (src/dashboard/session.js TOKEN_KEY): one sign-in serves both pages. */
  const TOKEN_KEY = 'taskwire.token';
  const ENDPOINT = '/graphql';

  const stored = () => {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  };
  const bearer = (token) => `Bearer ${token}`;
  const nativeFetch = window.fetch.bind(window);

  // The token goes to this server alone (its host; ws:// too), whatever else the page may fetch or open.
  const ownOrigin = (url) => {
    try {
      return new URL(url, location.href).host === location.host;
    } catch {
      return false;
    }
  };

  window.fetch = async (input, init = {}) => {
    const token = ownOrigin(input instanceof Request ? input.url : String(input)) ? stored() : null;
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (token && !headers.has('authorization')) headers.set('authorization', bearer(token));
    const response = await nativeFetch(input, { ...init, headers });
    if (response.status === 401) askForToken(token);
    return response;
  };

  const NativeWebSocket = window.WebSocket;
  class SignedWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      const token = stored();
      this.initSent = false;
      this.addEventListener('close', (event) => {
        if (event.code === 4403) askForToken(token);
      });
    }

    send(data) {
      if (!this.initSent && typeof data === 'string') {
        this.initSent = true;
        const token = ownOrigin(this.url) ? stored() : null;
        try {
          const message = JSON.parse(data);
          if (token && message?.type === 'connection_init') {
            message.payload = { ...(message.payload ?? {}), authorization: bearer(token) };
            data = JSON.stringify(message);
          }
        } catch {
          // Not JSON: not graphql-ws's connection_init; sent as it is.
        }
      }
      super.send(data);
    }
  }
  window.WebSocket = SignedWebSocket;

  // ---- the dialog ---------------------------------------------------------------------------

  let shown = false;

  function element(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'style') Object.assign(node.style, value);
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  /** Whether `token` is accepted: one cheap request that the server authenticates first. */
  async function check(token) {
    let response;
    try {
      response = await nativeFetch(ENDPOINT, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: bearer(token) },
        body: JSON.stringify({ query: 'query GraphiQLSignIn { __typename }' }),
      });
    } catch {
      return 'The server cannot be reached.';
    }
    if (response.status === 401) return 'This token was refused: it is wrong, expired or revoked.';
    if (response.status === 429) return `Too many attempts: try again in ${response.headers.get('retry-after') ?? 'a few'} s.`;
    return null;
  }

  /** Opens the sign-in dialog (once); `sent` is the token the refused request carried. */
  function askForToken(sent) {
    if (shown) return;
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', () => askForToken(sent), { once: true });
      return;
    }
    shown = true;
    const input = element('input', { name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'tw_…', style: { font: 'inherit', padding: '6px 8px' } });
    const error = element('p', { id: 'taskwire-sign-in-error', role: 'alert', style: { color: '#c0392b', margin: '0', minHeight: '1em' } });
    const submit = element('button', { type: 'submit', style: { alignSelf: 'flex-end', padding: '5px 14px' } }, 'Sign in');
    const form = element(
      'form',
      { style: { display: 'flex', flexDirection: 'column', gap: '10px' } },
      element('h2', { style: { margin: '0', fontSize: '17px' } }, 'Sign in to taskwire'),
      element('p', { style: { margin: '0' } }, sent ? 'The server refused this token (expired, revoked or wrong).' : 'This server needs a token.'),
      element('label', { style: { display: 'flex', flexDirection: 'column', gap: '4px' } }, 'API key or token (JWT)', input),
      error,
      submit,
    );
    const dialog = element('dialog', { id: 'taskwire-sign-in', 'aria-label': 'Sign in', style: { fontFamily: 'system-ui, sans-serif', padding: '22px 24px', width: 'min(440px, 92vw)', border: 'none', borderRadius: '10px' } }, form);
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = input.value.trim().replace(/^bearer\s+/i, '').trim();
      if (!token) {
        error.textContent = 'Paste an API key or a token.';
        return;
      }
      submit.setAttribute('disabled', '');
      const refused = await check(token);
      submit.removeAttribute('disabled');
      if (refused) {
        error.textContent = refused;
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, token);
      // GraphiQL reads the schema once and keeps its socket: a fresh page uses the new token for both.
      location.reload();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  }

  /** While a token is kept: a small "Sign out" in the corner, which forgets it and reloads. */
  function signOutControl() {
    if (!stored()) return;
    const button = element(
      'button',
      { id: 'taskwire-sign-out', type: 'button', title: 'Forget the token kept in this tab', style: { position: 'fixed', right: '12px', bottom: '12px', zIndex: '10', padding: '4px 10px', fontSize: '12px' } },
      'Sign out',
    );
    button.addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
    document.body.append(button);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', signOutControl, { once: true });
  else signOutControl();
})();
