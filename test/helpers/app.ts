import { print, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll } from 'vitest';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig, type Config } from '../../src/config.js';
import type { Sql } from '../../src/db/client.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import type { App, AppOptions } from '../../src/server/app.js';
import type { TaskDefinition } from '../../src/worker/define-task.js';
import { exampleTasks } from '../../src/worker/examples.js';
import { createRegistry } from '../../src/worker/registry.js';
import type { Runner, RunnerOptions } from '../../src/worker/runner.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createGates, type Gates } from './gates.js';
import { createSubscriptionClients, type SubscriptionClients } from './subscriptions.js';
import { releaseStubborn, testTasks } from './test-tasks.js';

/**
 * The one way tests build taskwire in process: a database of their own (copied from the
 * migrated template), the wired core (`createDeps`) whose registry holds the examples, the
 * test tasks and the file's own, runners made on demand and, for a server,
 * `buildApp(deps).start(0)` on 127.0.0.1 with GraphQL and subscription clients. Everything it
 * made is stopped by close(). Tests of processes spawn them instead (taskwire-process.ts).
 */

export interface TestAppOptions {
  /** Configuration variables, on top of LOG_LEVEL=silent. */
  env?: Record<string, string>;
  /** Task definitions besides the examples and testTasks (e.g. createGates().tasks). */
  tasks?: TaskDefinition[];
  /** Default: silent. */
  log?: Logger;
  /** What runner()/startRunner() use unless overridden (default CORE_RUNNER). */
  runnerDefaults?: Partial<RunnerOptions>;
}

export interface TestApp {
  database: TestDatabase;
  deps: Deps;
  config: Config;
  sql: Sql;
  /** A runner with the app's defaults, not started; stopped by stopRunners()/close(). */
  runner(overrides?: Partial<RunnerOptions>): Runner;
  /** runner(overrides), started. */
  startRunner(overrides?: Partial<RunnerOptions>): Promise<Runner>;
  /** Stops every runner made here; fails if one still has running tasks afterwards. */
  stopRunners(): Promise<void>;
  /** Rows in the tasks table (error paths must leave it unchanged). */
  countTasks(): Promise<number>;
  close(): Promise<void>;
}

/** Core tests: poll every 50 ms, 4 slots, give up on a handler 200 ms after a stop's grace. */
export const CORE_RUNNER: Partial<RunnerOptions> = { pollIntervalMs: 50, concurrency: 4, abandonAfterMs: 200 };
/** Server tests: fast polling, and short leases kept by frequent heartbeats. */
export const FAST_RUNNER: Partial<RunnerOptions> = { pollIntervalMs: 50, heartbeatMs: 200, leaseMs: 2000, shutdownGraceMs: 2000 };

/** A private database and the wired core, no server. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({ LOG_LEVEL: 'silent', ...options.env });
  const registry = createRegistry([...exampleTasks, ...testTasks, ...(options.tasks ?? [])]);
  const deps = await createDeps(config, { databaseUrl: database.url, log: options.log ?? silentLogger, registry });
  const defaults = options.runnerDefaults ?? CORE_RUNNER;
  const runners: Runner[] = [];
  const runner = (overrides: Partial<RunnerOptions> = {}): Runner => {
    const made = deps.createRunner({ ...defaults, ...overrides });
    runners.push(made);
    return made;
  };
  const stopRunners = async (): Promise<void> => {
    releaseStubborn();
    const all = runners.splice(0);
    await Promise.all(all.map((r) => r.stop()));
    for (const r of all) if (r.running !== 0) throw new Error(`runner ${r.workerId} still runs ${r.running} tasks after stop()`);
  };
  return {
    database,
    deps,
    config,
    sql: deps.db.sql,
    runner,
    async startRunner(overrides) {
      const made = runner(overrides);
      await made.start();
      return made;
    },
    stopRunners,
    async countTasks() {
      const [row] = await deps.db.sql`SELECT count(*)::int AS n FROM tasks`;
      return Number(row?.n);
    },
    async close() {
      await stopRunners();
      await deps.close();
      await database.drop();
    },
  };
}

/** A GraphQL response as the tests look at it: HTTP status plus the JSON body. */
export interface Response<T> {
  status: number;
  data: T | null | undefined;
  errors: GraphQLFormattedError[] | undefined;
}

export interface TestServerOptions extends Omit<TestAppOptions, 'runnerDefaults'> {
  app?: AppOptions;
  /** Start a runner at once with these overrides of FAST_RUNNER; false or left out: none until startRunner(). */
  runner?: Partial<RunnerOptions> | false;
}

export interface TestServer extends Omit<TestApp, 'runner'>, SubscriptionClients {
  app: App;
  /** The runner started last (by options.runner or startRunner()), until stopRunners(); undefined before. */
  readonly runner: Runner | undefined;
  /** http://127.0.0.1:PORT/graphql */
  url: string;
  /** Runs a typed operation over POST. */
  execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>>;
  /** POSTs any body (a string is sent as is) as JSON; for malformed requests. */
  post(body: unknown, headers?: Record<string, string>): Promise<Response<Record<string, unknown>>>;
  /** enqueueTask over HTTP; the new task's id (fails the test on an error). */
  enqueue(name: string, args?: unknown[]): Promise<string>;
}

/**
 * createTestApp plus `buildApp(deps, options.app).start(0)` on 127.0.0.1; runners default to
 * FAST_RUNNER. Subscription clients made through it are closed by close(), before the app stops.
 */
const ENQUEUE = 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }';

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  // Imported here: the server's modules and its schema, built as they load, are most of what a
  // file imports; files with no server (createTestApp, createQueueTestApp) do without them.
  const { buildApp } = await import('../../src/server/app.js');
  const core = await createTestApp({ ...options, runnerDefaults: FAST_RUNNER });
  const app = buildApp(core.deps, options.app);
  const { url } = await app.start(0, '127.0.0.1');
  const clients = createSubscriptionClients(url);
  let started: Runner | undefined;
  const startRunner = async (overrides?: Partial<RunnerOptions>): Promise<Runner> => (started = await core.startRunner(overrides));
  const stopRunners = async (): Promise<void> => {
    started = undefined;
    await core.stopRunners();
  };
  if (options.runner) await startRunner(options.runner);

  const post = async (body: unknown, headers: Record<string, string> = {}): Promise<Response<Record<string, unknown>>> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const json = (await res.json()) as ExecutionResult<Record<string, unknown>>;
    return { status: res.status, data: json.data, errors: json.errors as GraphQLFormattedError[] | undefined };
  };

  const { runner: _makeRunner, ...rest } = core;
  return {
    ...rest,
    ...clients,
    app,
    url,
    get runner() {
      return started;
    },
    startRunner,
    stopRunners,
    async execute<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<Response<R>> {
      return (await post({ query: print(document), variables })) as Response<R>;
    },
    post,
    async enqueue(name, args = []) {
      const res = await post({ query: ENQUEUE, variables: { input: { name, args } } });
      if (res.errors) throw new Error(`enqueueTask ${name} failed: ${JSON.stringify(res.errors)}`);
      return (res.data as { enqueueTask: { task: { id: string } } }).enqueueTask.task.id;
    },
    async close() {
      await clients.closeAll();
      await stopRunners();
      await app.stop();
      await core.close();
    },
  };
}

/** One test app for the whole file, made before its tests and closed after; read `.app` inside tests. */
export function useTestApp(options: TestAppOptions = {}): { readonly app: TestApp } {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await createTestApp(options);
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    get app() {
      return app as TestApp;
    },
  };
}

/** One test server for the whole file, started before its tests and closed after; read `.server` inside tests. */
export function useTestServer(options: TestServerOptions = {}): { readonly server: TestServer } {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(options);
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get server() {
      return server as TestServer;
    },
  };
}

/**
 * One test server for the whole file whose tasks wait on `gates` (the test decides when each
 * ends); no runner runs until a test starts one.
 */
export function useGatedTestServer(): { readonly gates: Gates; readonly server: TestServer } {
  const gates = createGates();
  const env = useTestServer({ tasks: gates.tasks, runner: false });
  return {
    gates,
    get server() {
      return env.server;
    },
  };
}
