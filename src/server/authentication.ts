import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Authenticator } from '../auth/authenticate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { FailedAuthThrottle, PrincipalLimiter } from '../auth/rate-limit.js';
import { AppError, CredentialExpiredError, CredentialNotAGuessError, RateLimitedError, UnauthenticatedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { clientAddresses, type ClientAddressOf } from './client-address.js';
import type { CredentialWatch } from './credential-watch.js';
import type { ServerContext } from './http.js';
import type { WsHooks, WsRefusal } from './live/ws-connection.js';

/** graphql-ws close code for an address throttled after failed authentications (HTTP's 429; graphql-ws does not retry it). */
export const WS_TOO_MANY_REQUESTS = 4429;
/** The 4403 reason of a credential that expired or was revoked (at connection_init, or while open). */
const EXPIRED_REASON = 'Forbidden: the credential expired or was revoked';

export type TransportName = 'http' | 'ws';

/**
 * Authenticates requests and connections the same way on every transport: the failed-auth
 * throttle per remote address first, then the credential. Logs name the principal (id, kind)
 * or the address, never the credential.
 */
export interface TransportAuth {
  /** The client a request comes from (its peer, or behind trusted proxies the client they name). */
  addressOf: ClientAddressOf;
  /**
   * @throws RateLimitedError while `address` is throttled — even for a good credential, or
   *   guessing could go on with every correct guess let through; UnauthenticatedError (counted
   *   by the throttle when a credential was sent), CredentialExpiredError (not counted).
   */
  authenticate(authorization: string | undefined, address: string, transport: TransportName): Promise<Principal>;
}

export interface TransportAuthOptions {
  credentials: Pick<Authenticator, 'authenticate'>;
  throttle: FailedAuthThrottle;
  log: Logger;
  /** Default: each request's TCP peer (no trusted proxies). */
  addressOf?: ClientAddressOf;
}

export function createTransportAuth(o: TransportAuthOptions): TransportAuth {
  const log = o.log.child({ component: 'auth' });
  return {
    addressOf: o.addressOf ?? clientAddresses([]),
    async authenticate(authorization, address, transport) {
      try {
        o.throttle.check(address);
      } catch (error) {
        log.debug({ remoteAddress: address, transport }, 'authentication refused: too many failed attempts from this address');
        throw error;
      }
      let principal: Principal;
      try {
        principal = await o.credentials.authenticate(authorization);
      } catch (error) {
        if (!(error instanceof UnauthenticatedError)) throw error;
        // Only guesses count towards the throttle. A missing credential is none, and neither is
        // one that proved its secret (a signature that verifies, an API key's right secret) but
        // has expired or was revoked: a client re-sending its expired read token after the 4403
        // must not lock its address (and the API keys behind it) out. Nor a JWT whose signature
        // held but a claim did not, or that could not be checked (the JWKS unavailable).
        const expired = error instanceof CredentialExpiredError;
        const guess = !expired && !(error instanceof CredentialNotAGuessError);
        if (authorization !== undefined && guess) o.throttle.fail(address);
        log.info({ remoteAddress: address, transport, credential: authorization === undefined ? 'missing' : expired ? 'expired' : 'refused' }, 'authentication refused');
        throw error;
      }
      // No throttle.succeed(): one good key would otherwise reset the count of guesses at others.
      if (principal.kind !== 'anonymous') log.debug({ principal: principal.id, kind: principal.kind, tenant: principal.tenant, transport }, 'authenticated');
      return principal;
    },
  };
}

/** An AppError refusing a request before it runs, as yoga sends it: its code, its HTTP status and headers. */
function refusal(error: AppError): GraphQLError {
  const limited = error instanceof RateLimitedError;
  return createGraphQLError(error.message, {
    extensions: {
      code: error.code,
      ...(limited ? { retryAfterMs: error.retryAfterMs } : {}),
      http: limited
        ? { status: 429, headers: { 'retry-after': String(Math.ceil(error.retryAfterMs / 1000)) } }
        : { status: 401, headers: { 'www-authenticate': 'Bearer' } },
    },
  });
}

/**
 * Authenticates each GraphQL request over HTTP (queries, mutations, SSE) from its `Authorization`
 * header, before the body is parsed; the principal is kept for the context (`principals`, by
 * request). Refused: 401 UNAUTHENTICATED or 429 RATE_LIMITED, no stack.
 */
export function useHttpAuthentication(auth: TransportAuth, principals: WeakMap<object, Principal>): Plugin {
  return {
    async onRequestParse({ request, serverContext }) {
      const authorization = request.headers.get('authorization') ?? undefined;
      principals.set(request, await authenticateHttp(auth, authorization, (serverContext as Partial<ServerContext>).req));
    },
  };
}

/**
 * One HTTP request's principal from its `Authorization` header, as useHttpAuthentication and
 * the fast path (fast-path.ts) both do it.
 * @throws GraphQLError 401 UNAUTHENTICATED or 429 RATE_LIMITED (with `extensions.http`), as yoga sends it.
 */
export async function authenticateHttp(auth: TransportAuth, authorization: string | undefined, req: IncomingMessage | undefined): Promise<Principal> {
  try {
    return await auth.authenticate(authorization, auth.addressOf(req), 'http');
  } catch (error) {
    if (error instanceof UnauthenticatedError || error instanceof RateLimitedError) throw refusal(error);
    throw error;
  }
}

export interface WsAuthOptions {
  auth: TransportAuth;
  /** Where each socket's principal is kept for the contexts of its operations. */
  principals: WeakMap<object, Principal>;
  /** Closes a socket (4403) when its credential expires or is revoked. */
  watch: CredentialWatch;
  /** Counts each principal's open sockets (refused 4429 past its maximum); absent: not counted. */
  limiter?: Pick<PrincipalLimiter, 'openConnection'>;
  log: Logger;
  /**
   * Whether a connection is one of the server's own warm-up's (warm-up.ts OwnSockets: its secret in
   * connectionParams, and one of its TCP connections): it carries no credential and runs as the
   * server itself (ANONYMOUS: every tenant, no limits), uncounted and unwatched.
   */
  ownSocket?: (request: IncomingMessage, connectionParams: Record<string, unknown> | undefined) => boolean;
}

/**
 * graphql-ws authentication: `connectionParams.authorization` at `connection_init`. Refused: close
 * 4403 Forbidden (its reason says so when the credential only expired or was revoked; 4429 while
 * the address is throttled); accepted: the principal serves every
 * operation of the socket (each authorized by the GraphQL guard), and the socket is closed with
 * 4403 when the credential expires or is revoked — the client reconnects with a fresh one.
 */
export function wsAuthHooks(o: WsAuthOptions): Required<Pick<WsHooks, 'onConnect'>> {
  return {
    async onConnect({ connectionParams, request, socket }): Promise<boolean | WsRefusal> {
      if (o.ownSocket?.(request, connectionParams)) {
        o.principals.set(socket, ANONYMOUS);
        return true;
      }
      const value = connectionParams?.authorization;
      let principal: Principal;
      try {
        principal = await o.auth.authenticate(typeof value === 'string' ? value : undefined, o.auth.addressOf(request), 'ws');
      } catch (error) {
        if (error instanceof RateLimitedError) {
          return { code: WS_TOO_MANY_REQUESTS, reason: `Too many failed authentications; retry in ${Math.ceil(error.retryAfterMs / 1000)} s` };
        }
        // Still 4403 (what clients renew their token on), with a reason saying it only expired.
        if (error instanceof CredentialExpiredError) return { code: 4403, reason: EXPIRED_REASON };
        if (error instanceof UnauthenticatedError) return false;
        throw error;
      }
      let release: () => void;
      try {
        release = o.limiter?.openConnection(principal) ?? (() => undefined);
      } catch (error) {
        if (error instanceof RateLimitedError) return { code: WS_TOO_MANY_REQUESTS, reason: error.message };
        throw error;
      }
      o.principals.set(socket, principal);
      const untrack = o.watch.track(principal, () => {
        o.log.info({ principal: principal.id, kind: principal.kind }, 'graphql-ws: the credential expired or was revoked; closing the socket (4403)');
        socket.close(4403, EXPIRED_REASON);
      });
      const ended = (): void => {
        untrack();
        release();
      };
      socket.once('close', ended);
      // Closed while authenticating: no 'close' is coming any more.
      if (socket.readyState !== socket.OPEN) ended();
      return true;
    },
  };
}
