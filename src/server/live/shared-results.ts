import type { Plugin } from 'graphql-yoga';
import { createRequire } from 'node:module';
import type { DocumentNode, ExecutionArgs, ExecutionResult } from 'graphql';
import type { CompiledQuery } from 'graphql-jit';
import { PullStream } from './pull-stream.js';
import { readyStep } from './ready-step.js';
import { resultVariablesOf } from './result-variables.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { markRequestErrors } from '../../graphql/errors.js';

// The schema is built by Pothos, a CommonJS package, with CommonJS graphql; graphql-js refuses a
// schema of another module instance, and a bundler (vitest's) would resolve an ESM import to
// index.mjs. require() gives the same instance everywhere.
const require = createRequire(import.meta.url);
const { createSourceEventStream, execute } = require('graphql') as typeof import('graphql');
// graphql-jit requires graphql itself: loaded the same way, it gets the same instance.
const { compileQuery, isCompiledQuery } = require('graphql-jit') as typeof import('graphql-jit');

type Result = ExecutionResult | Promise<ExecutionResult>;

/**
 * Results already computed for an event object, kept on the event itself (a non-enumerable
 * symbol property: invisible to spreads, JSON and Object.keys) under a key of document, result
 * scope, operation name and variables. The hub hands one Task object to every subscriber of that
 * task (src/server/live/hub.ts), the event log one record per event to every subscriber of it, so
 * subscribers running the same document with the same variables get one execution between them.
 * A result lives as long as the event it was computed from. On the event rather than in a
 * WeakMap: a WeakMap entry (and a map per event) for every event delivered showed in the GC time
 * of the event-log fan-out; most events have one key, so the first needs no map at all.
 */
const RESULTS = Symbol('taskwire.sharedResults');

interface SharedResults {
  key: string;
  result: Result;
  others?: Map<string, Result>;
}

/** For an event that cannot take a property (frozen): kept aside. */
const aside = new WeakMap<object, SharedResults>();

/** Documents are few and long-lived (yoga's parser cache): a number in the key stands for one. */
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

/**
 * Subscription events executed in this process (each result then shared by every subscriber of its
 * key), how many of them by a compiled operation (compiledFor), and results handed on through the
 * fast lane (ReadyResults).
 */
export const sharedResultStats: { executions: number; compiled: number; fastLane: number } = { executions: 0, compiled: 0, fastLane: 0 };

/**
 * The fast lane of a subscription's results, for the graphql-ws pump (ws-connection.ts): a result
 * of an event already queued in the stream, error-free and computed, is handed on without going
 * through the per-result wrappers between this stream and the socket. Those wrappers are envelop's
 * result hooks, its error wrapper and the subscription guard's release wrapper; in this server the
 * only result hook is yoga's masked errors, which changes a result only when it has `errors`, and
 * the error and release wrappers act only on a thrown error or the end — so for such a result the
 * chain hands on the very object it was given (test/server/live/fast-lane.test.ts checks the list
 * of hooks). A pump with nothing queued waits at the stream itself (`awaitReady`: the stream's own
 * `next()`, past the wrappers), so a result that arrives while it waits takes the lane too. Any
 * other step (one with errors, one still running, the end, an error) goes through the whole chain,
 * in order. At 2,000 output chunks/s to 100 subscribers the chain was about a third of the server's
 * CPU per message with the GC of its allocations (bench (j), bench/README.md "The event log (i,
 * j)"); in (g), where each subscriber waits for its one change, taking it past the chain cut the
 * every-subscriber p99 by a fifth (bench/README.md "Waiting subscribers past the wrappers (g)").
 */
export interface ReadyResults {
  /** The next result, if it is queued, error-free and computed; otherwise undefined (then awaitReady() or next()). */
  takeReady(): ExecutionResult | undefined;
  /**
   * Right after takeReady() gave nothing: asks the stream itself for its next step, past the
   * wrappers, and settles (never rejects) once it came: then takeReady() again, and next() through
   * the wrappers when it gives nothing (the end, an error, a result with errors or still running:
   * those steps are handed to the wrappers as they came). A subscriber that waits between events —
   * every subscriber of bench (g), whose one change arrives while it waits — so costs one step
   * rather than one per wrapper for each result. Undefined when a step is held for the wrappers
   * already: call next().
   */
  awaitReady(): PromiseLike<void> | undefined;
}

/** The shared stream made for an operation, by its context object (one per graphql-ws operation). */
const byContext = new WeakMap<object, SharedResultStream>();

/**
 * The fast lane of the operation whose arguments had `context` (taken once: the pump keeps it), or
 * undefined when its stream was not made here or cannot take values synchronously.
 */
export function takeReadyResults(context: object): ReadyResults | undefined {
  const stream = byContext.get(context);
  byContext.delete(context);
  return stream?.canTakeReady() ? stream : undefined;
}

/**
 * Subscriptions execute each event once per distinct operation rather than once per
 * subscriber: with 10,000 subscribers watching 100 tasks, one change was executed 100 times,
 * one for each (about 100 µs apiece, a quarter of it GC). Sound because no field of a
 * subscription payload depends on who asked beyond the context's `resultScope`, which is part
 * of the sharing key (src/graphql/context.ts). Errors are still masked per subscriber by the hooks that run after
 * this (they map each result; a shared result is never mutated here).
 *
 * Also replaces the executor's stack of async-iterator wrappers around each stream with one,
 * gives a stream that could not start its HTTP status (see markRequestErrors), and ends a stream
 * that no HTTP response will carry.
 */
export function useSharedSubscriptionResults(): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribeShared as never);
    },
    onResultProcess({ result, resultProcessor }) {
      // A stream no processor takes (a subscription over a plain JSON request): yoga answers 406
      // and nobody ever reads it, so end it now, or its subscription stays open in the hub.
      // Runs after yoga's own processor choice (its plugin comes before user plugins).
      if (!resultProcessor && isAsyncIterable(result)) result[Symbol.asyncIterator]().return?.().catch(() => undefined);
    },
  };
}

async function subscribeShared(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!isAsyncIterable(stream)) {
    // The stream could not start (unknown or malformed id): a request error, not a crash.
    markRequestErrors(stream.errors ?? []);
    return stream;
  }
  // Shared only between operations of the same result scope (see GraphQLContext.resultScope), and
  // keyed on the variables the result can depend on: not those only the root field's arguments use
  // (a resuming subscriber's cursor or afterVersion), see result-variables.ts.
  const scope = (args.contextValue as GraphQLContext | undefined)?.resultScope ?? '';
  let documentId = documentIds.get(args.document);
  if (documentId === undefined) documentIds.set(args.document, (documentId = nextDocumentId++));
  const key = `${documentId}\n${scope}\n${args.operationName ?? ''}\n${variablesKey(args)}`;
  const shared = new SharedResultStream(stream[Symbol.asyncIterator](), internKey(key), args);
  if (typeof args.contextValue === 'object' && args.contextValue !== null) byContext.set(args.contextValue, shared);
  return shared;
}

/** Distinct sharing keys kept for interning; past this the table starts over (only less sharing of memory, never wrong). */
const MAX_KEYS = 10_000;
const keys = new Map<string, string>();

/**
 * One string per distinct key: every subscriber of a document (with the same scope and result
 * variables) holds the same one, not a template literal's concatenation of its own (four string
 * objects a subscriber in the heap snapshots of (g)), and the per-event check is a pointer compare.
 */
function internKey(key: string): string {
  const known = keys.get(key);
  if (known !== undefined) return known;
  if (keys.size >= MAX_KEYS) keys.clear();
  keys.set(key, key);
  return key;
}

/** The JSON of the variables a payload can depend on, in a fixed order; absent ones stay absent (≠ null). */
function variablesKey(args: ExecutionArgs): string {
  const values = args.variableValues;
  if (!values) return 'null';
  const names = resultVariablesOf(args.document, args.operationName);
  if (names === null) return JSON.stringify(values);
  const picked: Record<string, unknown> = {};
  for (const name of names) if (Object.hasOwn(values, name)) picked[name] = values[name];
  return JSON.stringify(picked);
}

function resultFor(event: unknown, key: string, args: ExecutionArgs): Result {
  if (typeof event !== 'object' || event === null) return run(event, args);
  const held = (event as { [RESULTS]?: SharedResults })[RESULTS] ?? aside.get(event);
  if (held) {
    if (held.key === key) return held.result;
    let result = held.others?.get(key);
    if (!result) (held.others ??= new Map()).set(key, (result = run(event, args)));
    return result;
  }
  const result = run(event, args);
  const shared: SharedResults = { key, result };
  if (Object.isExtensible(event)) Object.defineProperty(event, RESULTS, { value: shared });
  else aside.set(event, shared);
  return result;
}

function run(event: unknown, args: ExecutionArgs): Result {
  sharedResultStats.executions += 1;
  const compiled = compiledFor(args);
  if (!compiled) return byGraphqlJs(event, args);
  sharedResultStats.compiled += 1;
  const result = compiled.query(event, args.contextValue, args.variableValues);
  if (result instanceof Promise) return result.then((r) => (r.errors ? byGraphqlJs(event, args) : r));
  return result.errors ? byGraphqlJs(event, args) : result;
}

function byGraphqlJs(event: unknown, args: ExecutionArgs): Result {
  return execute({ ...args, rootValue: event });
}

/** A document's operation compiled, by operation name ('' for none); null: not compilable here (graphql-js runs it). */
const compiledQueries = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();

/**
 * The subscription's operation compiled to a function by graphql-jit, which runs each event's
 * selection without graphql-js's per-execution set-up (execution context, variable coercion,
 * field collection and a resolve info per field, all again for every event): for the feed's
 * four fields 9 µs an event became 1.4 µs (bench/tools/subscription-execution.ts), and (i)
 * executes every event of a 100,000-task drain. Compiled once per document and operation (yoga's
 * parser cache keeps one DocumentNode per text); its variables were checked when the subscription
 * started. Not for a custom field or type resolver (none in this server), nor a document it
 * refuses: those run through graphql-js, as does the subscription's start. A result with errors is
 * made again by graphql-js (run): graphql-jit's errors are frozen objects without `nodes` or, for
 * most, `extensions`, which the error mapping (src/graphql/errors.ts) annotates in place; errors
 * are the rare case, and a payload's resolvers only read.
 */
function compiledFor(args: ExecutionArgs): CompiledQuery | null {
  if (args.fieldResolver || args.typeResolver) return null;
  let byName = compiledQueries.get(args.document);
  if (!byName) compiledQueries.set(args.document, (byName = new Map()));
  const name = args.operationName ?? '';
  let compiled = byName.get(name);
  if (compiled === undefined) {
    const outcome = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    compiled = isCompiledQuery(outcome) ? outcome : null;
    byName.set(name, compiled);
  }
  return compiled;
}

const DONE: IteratorResult<ExecutionResult> = Object.freeze({ value: undefined, done: true });
/** No event held (see SharedResultStream.held): events are objects or other values, never this. */
const NONE = Symbol('none');

/**
 * `source` with each event mapped to its (shared) result; `return()` passes straight to the
 * source (unsubscribe is immediate). A class rather than an object literal of closures: a server
 * holds one per subscription, and the literal cost each subscriber five closures, their contexts
 * and a name string for its computed `[Symbol.asyncIterator]` method (heap snapshots of (g)). `next`
 * chains on the source's promise rather than being an async function: it runs once per event per
 * subscriber, and each suspended async frame and extra promise showed in the fan-out profiles.
 */
class SharedResultStream implements AsyncIterableIterator<ExecutionResult>, ReadyResults {
  /** `step` bound to this stream, made at the first `next()` and reused for every event. */
  private onStep: ((s: IteratorResult<unknown>) => IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>>) | undefined;
  /** An event takeReady took whose result must go through the wrappers: the next next() gives it. */
  private held: unknown = NONE;
  /** An event awaitReady took from the source, for takeReady (it comes before anything queued since). */
  private arrived: unknown = NONE;
  /** The source's end or failure as awaitReady met it: the next next() hands it to the wrappers. */
  private last: { step: IteratorResult<unknown> } | { error: unknown } | undefined;
  /** awaitReady's callbacks, made at its first use and reused for every wait. */
  private onArrived: ((s: IteratorResult<unknown>) => void) | undefined;
  private onFailed: ((error: unknown) => void) | undefined;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly key: string,
    private readonly args: ExecutionArgs,
  ) {}

  next(): Promise<IteratorResult<ExecutionResult>> {
    const onStep = (this.onStep ??= (s) => this.step(s));
    const last = this.last;
    if (last) {
      this.last = undefined;
      return 'error' in last ? Promise.reject(last.error as Error) : readyStep(last.step).then(onStep);
    }
    if (this.arrived !== NONE) {
      // Taken by awaitReady, not by takeReady since (a caller that does not use the lane).
      const value = this.arrived;
      this.arrived = NONE;
      return readyStep({ value, done: false }).then(onStep);
    }
    if (this.held !== NONE) {
      const value = this.held;
      this.held = NONE;
      return readyStep({ value, done: false }).then(onStep);
    }
    return this.source.next().then(onStep);
  }

  canTakeReady(): boolean {
    return this.source instanceof PullStream;
  }

  takeReady(): ExecutionResult | undefined {
    if (this.held !== NONE || this.last || !(this.source instanceof PullStream)) return undefined;
    let value: unknown;
    if (this.arrived !== NONE) {
      value = this.arrived;
      this.arrived = NONE;
    } else {
      value = this.source.takeQueued();
      if (value === undefined) return undefined;
    }
    let result: Result;
    try {
      result = resultFor(value, this.key, this.args);
    } catch {
      // Thrown again by next() through the wrappers, where errors are handled.
      this.held = value;
      return undefined;
    }
    if (result instanceof Promise || result.errors != null) {
      this.held = value;
      return undefined;
    }
    sharedResultStats.fastLane += 1;
    return result;
  }

  awaitReady(): PromiseLike<void> | undefined {
    if (this.held !== NONE || this.arrived !== NONE || this.last) return undefined;
    const arrived = (this.onArrived ??= (s) => {
      if (s.done) this.last = { step: s };
      else this.arrived = s.value;
    });
    const failed = (this.onFailed ??= (error) => {
      this.last = { error };
    });
    // A PendingStep for a task stream (settled in the producer's call, as through the wrappers), a
    // promise for an event stream, a ReadyStep if a value came meanwhile: the pump takes each as it is.
    return this.source.next().then(arrived, failed);
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    await this.source.return?.();
    return DONE;
  }

  async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    if (this.source.throw) return this.step(await this.source.throw(error));
    await this.source.return?.();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ExecutionResult> {
    return this;
  }

  private step(s: IteratorResult<unknown>): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> {
    if (s.done) return DONE;
    const value = resultFor(s.value, this.key, this.args);
    return value instanceof Promise ? value.then((v) => ({ value: v, done: false })) : { value, done: false };
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
