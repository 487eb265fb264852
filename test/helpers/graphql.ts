import { print, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll } from 'vitest';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig, type Config } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { buildApp, type App, type AppOptions } from '../../src/server/app.js';
import { exampleTasks } from '../../src/worker/examples.js';
import type { TaskDefinition } from '../../src/worker/define-task.js';
import { createRegistry } from '../../src/worker/registry.js';
import type { Runner, RunnerOptions } from '../../src/worker/runner.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createGates, type Gates } from './gates.js';
import { createSubscriptionClients, type SubscriptionClients } from './subscriptions.js';

/** A GraphQL response as the tests look at it: HTTP status plus the JSON body. */
export interface Response<T> {
  status: number;
  data: T | null | undefined;
  errors: GraphQLFormattedError[] | undefined;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Extra task definitions besides the examples (e.g. createGates().tasks). */
  tasks?: TaskDefinition[];
  /** Start an in-process runner with these overrides (fast polling and leases by default); false: none. */
  runner?: Partial<RunnerOptions> | false;
  app?: AppOptions;
  log?: Logger;
}

export interface TestServer extends SubscriptionClients {
  database: TestDatabase;
  deps: Deps;
  config: Config;
  app: App;
  runner: Runner | undefined;
  /** http://127.0.0.1:PORT/graphql */
  url: string;
  /** Runs a typed operation over POST. */
  execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>>;
  /** POSTs any body (a string is sent as is) as JSON; for malformed requests. */
  post(body: unknown, headers?: Record<string, string>): Promise<Response<Record<string, unknown>>>;
  /** Rows in the tasks table. */
  countTasks(): Promise<number>;
  /** Starts the runner now (for tests that subscribe before anything runs). */
  startRunner(overrides?: Partial<RunnerOptions>): Promise<Runner>;
  close(): Promise<void>;
}

export const FAST_RUNNER: Partial<RunnerOptions> = { pollIntervalMs: 50, heartbeatMs: 200, leaseMs: 2000, shutdownGraceMs: 2000 };

/**
 * A private database, the wired core, `buildApp(deps).start(0)` on 127.0.0.1, and optionally
 * a runner in the same process. Subscription clients made through it are closed by close().
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  const config = loadConfig({ LOG_LEVEL: 'silent', ...options.env });
  const registry = createRegistry([...exampleTasks, ...(options.tasks ?? [])]);
  const deps = await createDeps(config, { databaseUrl: database.url, log: options.log ?? silentLogger, registry });
  const app = buildApp(deps, options.app);
  const { url } = await app.start(0, '127.0.0.1');
  const clients = createSubscriptionClients(url);
  let runner: Runner | undefined;
  const startRunner = async (overrides: Partial<RunnerOptions> = {}): Promise<Runner> => {
    if (runner) throw new Error('a runner is already running');
    runner = deps.createRunner({ ...FAST_RUNNER, ...overrides });
    await runner.start();
    return runner;
  };
  if (options.runner !== false && options.runner !== undefined) await startRunner(options.runner);

  const post = async (body: unknown, headers: Record<string, string> = {}): Promise<Response<Record<string, unknown>>> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const json = (await res.json()) as ExecutionResult<Record<string, unknown>>;
    return { status: res.status, data: json.data, errors: json.errors as GraphQLFormattedError[] | undefined };
  };

  return {
    database,
    deps,
    config,
    app,
    get runner() {
      return runner;
    },
    url,
    ...clients,
    async execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>> {
      return (await post({ query: print(document), variables })) as Response<R>;
    },
    post,
    async countTasks() {
      const [row] = await database.db.sql`SELECT count(*)::int AS n FROM tasks`;
      return Number(row?.n);
    },
    startRunner,
    async close() {
      await clients.closeAll();
      await runner?.stop();
      await app.stop();
      await deps.close();
      await database.drop();
    },
  };
}

/** The one error of a response, or a failed assertion saying what came instead. */
export function onlyError(response: { errors?: readonly GraphQLFormattedError[] | undefined }): GraphQLFormattedError {
  if (response.errors?.length !== 1) throw new Error(`expected one error, got ${JSON.stringify(response.errors ?? response)}`);
  return response.errors[0] as GraphQLFormattedError;
}

/**
 * One test server for the whole file, started before its tests and closed after: its tasks wait
 * on `gates` (the test decides when each ends) and no runner runs until a test starts one.
 */
export function useGatedTestServer(): { readonly gates: Gates; readonly server: TestServer } {
  const gates = createGates();
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer({ tasks: gates.tasks, runner: false });
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    gates,
    get server() {
      return server as TestServer;
    },
  };
}
