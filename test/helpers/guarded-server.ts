import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { print, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createYoga } from 'graphql-yoga';
import type { Principal } from '../../src/auth/principal.js';
import { RateLimitedError } from '../../src/errors.js';
import type { GraphQLContext, PrincipalLimits, ReadTokenIssuer } from '../../src/graphql/context.js';
import { maskError } from '../../src/graphql/errors.js';
import { schema } from '../../src/graphql/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createTaskEventHub, type TaskEventHub } from '../../src/server/live/hub.js';
import { createWorkflowHub } from '../../src/server/live/workflow-hub.js';
import { createBulkActionHub } from '../../src/server/live/bulk-action-hub.js';
import type { Response, TestApp } from './app.js';
import { createSubscriptionClients, type SubscriptionClients } from './subscriptions.js';

/**
 * The GraphQL schema (and so its guard) served over real HTTP with a context the test chooses:
 * a stand-in for the server's authentication (src/server) while the guard is tested on its own.
 * Each principal is reached at its own path, `/as/<key>/graphql`, so the subscription clients of
 * subscriptions.ts work unchanged; a key nobody registered gets a context without a principal.
 * The queue and the event hub are the test app's, unscoped: tenants are not what this tests.
 */

export interface GuardedServerOptions {
  /** Issue read tokens (as with AUTH_MODE=on); false: `readTokens` is null, as with auth off. Default true. */
  readTokens?: boolean;
  /** Enqueues each principal may make before RATE_LIMITED (retryAfterMs: RETRY_AFTER_MS); default unlimited. */
  enqueueBudget?: number;
}

/** What the RATE_LIMITED errors of enqueueBudget carry as retryAfterMs. */
export const RETRY_AFTER_MS = 1500;

export interface GuardedClient extends Pick<SubscriptionClients, 'subscribeSse'> {
  url: string;
  /** Runs a typed operation over POST. */
  execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>>;
  /** POSTs a query string. */
  post(query: string, variables?: Record<string, unknown>): Promise<Response<Record<string, unknown>>>;
}

export interface GuardedServer {
  /** A client whose every operation runs as `principal`. */
  as(principal: Principal): GuardedClient;
  /** A client presenting `token`: a read token this server issued, or any other string (no principal). */
  withToken(token: string): GuardedClient;
  /** The principal behind a read token this server issued. */
  readTokenPrincipal(token: string): Principal | undefined;
  hub: TaskEventHub;
  close(): Promise<void>;
}

export async function startGuardedServer(app: TestApp, options: GuardedServerOptions = {}): Promise<GuardedServer> {
  const hub = createTaskEventHub({ sql: app.sql, queue: app.deps.queue, log: silentLogger });
  await hub.start();
  const workflowHub = createWorkflowHub({ sql: app.sql, workflows: app.deps.queue.workflows, log: silentLogger });
  await workflowHub.start();
  const bulkActionHub = createBulkActionHub({ sql: app.sql, bulkActions: app.deps.queue.bulkActions, log: silentLogger });
  await bulkActionHub.start();
  const principals = new Map<string, Principal>();
  const issued = new Map<string, Principal>();
  let made = 0;
  const readTokens: ReadTokenIssuer = {
    async issue(principal, taskIds, ttlSeconds = 3600) {
      const token = `rt-${++made}`;
      const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
      issued.set(token, { kind: 'read-token', id: principal.id, tenant: principal.tenant, scopes: [], taskIds: [...taskIds], expiresAt });
      return { token, expiresAt };
    },
  };
  const spent = new Map<string, number>();
  const limitsOf = (principal: Principal | undefined): PrincipalLimits => ({
    takeEnqueue(count) {
      const key = principal?.id ?? '';
      const used = (spent.get(key) ?? 0) + count;
      if (options.enqueueBudget !== undefined && used > options.enqueueBudget) throw new RateLimitedError('Too many enqueues', RETRY_AFTER_MS);
      spent.set(key, used);
      return () => spent.set(key, (spent.get(key) ?? count) - count);
    },
  });

  const principalOf = new WeakMap<IncomingMessage, Principal>();
  const yoga = createYoga<{ req: IncomingMessage }, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    maskedErrors: { maskError },
    logging: false,
    graphiql: false,
    landingPage: false,
    context: ({ req }): GraphQLContext => {
      const principal = principalOf.get(req);
      return {
        queue: app.deps.queue,
        events: hub,
        workflowEvents: workflowHub,
        bulkActionEvents: bulkActionHub,
        // As the server's contexts name their principal (src/server/context.ts); the app's log (silent unless given).
        log: principal ? app.deps.log.child({ principal: principal.id, kind: principal.kind }) : app.deps.log,
        resultScope: principal ? JSON.stringify(principal) : '',
        // The guard answers a context without one UNAUTHENTICATED.
        principal: principal as Principal,
        readTokens: options.readTokens === false ? null : readTokens,
        limits: limitsOf(principal),
      };
    },
  });
  const http = createServer((req, res) => {
    const match = /^\/as\/([^/]+)(\/graphql.*)$/.exec(req.url ?? '');
    const key = decodeURIComponent(match?.[1] ?? '');
    const principal = principals.get(key) ?? issued.get(key);
    if (principal) principalOf.set(req, principal);
    req.url = match?.[2] ?? '/nowhere';
    void yoga(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const clients: SubscriptionClients[] = [];

  const clientAt = (key: string): GuardedClient => {
    const url = `${base}/as/${encodeURIComponent(key)}/graphql`;
    const subscriptions = createSubscriptionClients(url);
    clients.push(subscriptions);
    const post = async (query: string, variables?: Record<string, unknown>): Promise<Response<Record<string, unknown>>> => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
        body: JSON.stringify({ query, variables }),
      });
      const json = (await res.json()) as ExecutionResult<Record<string, unknown>>;
      return { status: res.status, data: json.data, errors: json.errors as GraphQLFormattedError[] | undefined };
    };
    return {
      url,
      post,
      subscribeSse: (document, variables) => subscriptions.subscribeSse(document, variables),
      async execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>> {
        return (await post(print(document), variables as Record<string, unknown> | undefined)) as Response<R>;
      },
    };
  };

  return {
    as(principal) {
      const key = `p${principals.size + 1}`;
      principals.set(key, principal);
      return clientAt(key);
    },
    withToken: (token) => clientAt(token),
    readTokenPrincipal: (token) => issued.get(token),
    hub,
    async close() {
      await Promise.all(clients.map((c) => c.closeAll()));
      await hub.close(1000);
      await workflowHub.close(1000);
      await bulkActionHub.close(1000);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await yoga.dispose();
    },
  };
}
