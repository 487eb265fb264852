import type { Plugin } from 'graphql-yoga';
import { createAuthenticator } from '../auth/authenticate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { createFailedAuthThrottle, createPrincipalLimits, type PrincipalLimiter } from '../auth/rate-limit.js';
import type { Deps } from '../deps.js';
import { UnauthenticatedError } from '../errors.js';
import type { ReadTokenIssuer } from '../graphql/context.js';
import type { IncomingMessage } from 'node:http';
import { authenticateHttp, createTransportAuth, useHttpAuthentication, wsAuthHooks } from './authentication.js';
import { clientAddresses } from './client-address.js';
import { createCredentialWatch, type CredentialWatch } from './credential-watch.js';
import type { WsHooks } from './live/ws-connection.js';
import { useSubscriptionGuard } from './subscription-guard.js';

export interface ServerAuthOptions {
  /** Failed authentications one remote address may make per window before RATE_LIMITED (default 10 per 60,000 ms). */
  failedAuth?: { maxFailures: number; windowMs: number };
  /** Between two revocation checks of the credentials holding subscriptions open, in ms (default 2,000). */
  recheckMs?: number;
  /** The server's own warm-up sockets (warm-up.ts): let in without a credential, as the server. */
  ownSocket?: (request: IncomingMessage, connectionParams: Record<string, unknown> | undefined) => boolean;
}

/** Authentication as the server's transports use it (AUTH_MODE; docs/auth.md). */
export interface ServerAuth {
  /** AUTH_MODE=on. */
  readonly on: boolean;
  /** Signs read tokens; null while auth is off. */
  readonly readTokens: ReadTokenIssuer | null;
  /** Enqueue rate and subscription cap per principal; null while auth is off. */
  readonly limiter: PrincipalLimiter | null;
  /** yoga plugins: HTTP authentication, the subscription cap and SSE expiry (none while off). */
  readonly plugins: Plugin[];
  /** graphql-ws hooks: authentication at connect, then `extra` (the app's own, if any). */
  wsHooks(extra?: WsHooks): WsHooks;
  /** An HTTP request's principal, as the HTTP plugin authenticates it (the fast path's; see authenticateHttp). */
  httpPrincipal(authorization: string | undefined, req: IncomingMessage): Promise<Principal>;
  /** The principal an operation runs as, from yoga's initial context (HTTP: its request; graphql-ws: its socket). */
  principalOf(initial: { request?: Request; socket?: unknown }): Principal;
  /** Stops the expiry timers and revocation checks. */
  close(): void;
}

/**
 * Wires src/auth into the server: with AUTH_MODE=off, every operation runs as ANONYMOUS and
 * nothing is added (the server behaves as before authentication existed); with AUTH_MODE=on,
 * the authenticator (API keys, JWTs, read tokens), the failed-auth throttle, the per-principal
 * limits and the credential watch that ends subscriptions when a credential expires or is revoked.
 */
export function createServerAuth(deps: Deps, options: ServerAuthOptions = {}): ServerAuth {
  const { config, log } = deps;
  if (config.auth.mode === 'off') {
    return {
      on: false,
      readTokens: null,
      limiter: null,
      plugins: [],
      wsHooks: (extra) => extra ?? {},
      httpPrincipal: () => Promise.resolve(ANONYMOUS),
      principalOf: () => ANONYMOUS,
      close: () => undefined,
    };
  }
  // Expiries (API keys, JWTs, read tokens) are judged by the database's clock: every server agrees.
  const now = deps.clock.now;
  const authenticator = createAuthenticator({ sql: deps.db.sql, config, log, now });
  const limiter = createPrincipalLimits({ enqueueRatePerS: config.auth.enqueueRatePerS, maxSubscriptionsPerPrincipal: config.auth.maxSubscriptionsPerPrincipal });
  const throttle = createFailedAuthThrottle(options.failedAuth ?? { maxFailures: 10, windowMs: 60_000 });
  const watch: CredentialWatch = createCredentialWatch({ stillValid: (p) => authenticator.stillValid(p), log, intervalMs: options.recheckMs, now });
  const auth = createTransportAuth({ credentials: authenticator, throttle, log, addressOf: clientAddresses(config.auth.trustedProxies, config.auth.trustedProxyHeader) });
  const principals = new WeakMap<object, Principal>();
  return {
    on: true,
    readTokens: authenticator.readTokens,
    limiter,
    plugins: [useHttpAuthentication(auth, principals), useSubscriptionGuard({ limiter, watch })],
    wsHooks(extra) {
      const own = wsAuthHooks({ auth, principals, watch, limiter, log, ownSocket: options.ownSocket });
      return {
        async onConnect(c) {
          const allowed = await own.onConnect(c);
          if (allowed !== true) return allowed;
          return extra?.onConnect ? extra.onConnect(c) : true;
        },
        ...(extra?.onSubscribe ? { onSubscribe: extra.onSubscribe } : {}),
      };
    },
    httpPrincipal: (authorization, req) => authenticateHttp(auth, authorization, req),
    principalOf(initial) {
      const principal = (initial.request && principals.get(initial.request)) ?? (initial.socket ? principals.get(initial.socket as object) : undefined);
      // Every path in authenticates first; an operation that got here without is refused, not let in.
      if (!principal) throw new UnauthenticatedError();
      return principal;
    },
    close: () => watch.close(),
  };
}
