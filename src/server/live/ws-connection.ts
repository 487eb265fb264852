// Over 300 lines on purpose: one socket's protocol state machine (the message switch, the
// operation lifecycle, back-pressure, close codes) shares one set of fields; split, its
// invariants would be spread over files that must change together.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { CloseCode, MessageType, parseMessage, stringifyMessage, type SubscribePayload } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { WebSocket } from 'ws';
import type { GraphQLContext } from '../../graphql/context.js';
import { clientError, GRAPHQL_CODES, isGraphQLError, maskError } from '../../graphql/errors.js';
import { unidentifiedOperation } from '../request-params.js';
import type { ServerContext } from '../http.js';
import { ReadyStep } from './ready-step.js';
import { refusedForStop } from './sse-streams.js';
import { takeReadyResults, type ReadyResults } from './shared-results.js';
import { FrameQueue } from './ws-frames.js';

/** The yoga instance operations run through. */
export type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

/**
 * The seams where authentication plugs in (graphql-ws's own `onConnect` / `onSubscribe`). Both
 * may be async; the connection waits for them.
 */
export interface WsHooks {
  /**
   * At `connection_init`, with the client's connectionParams: false refuses the socket with
   * 4403 Forbidden (as graphql-ws does); a thrown error too (logged); a WsRefusal with its own
   * close code. `socket` is for what outlives the call (closing it when a credential expires).
   */
  onConnect?(c: {
    connectionParams: Record<string, unknown> | undefined;
    request: IncomingMessage;
    socket: WebSocket;
  }): boolean | void | WsRefusal | Promise<boolean | void | WsRefusal>;
  /**
   * Before each operation starts: a thrown AppError refuses that operation only (an `error`
   * message with its code); the socket stays open.
   */
  onSubscribe?(c: { connectionParams: Record<string, unknown> | undefined; request: IncomingMessage; payload: SubscribePayload }): void | Promise<void>;
}

/** A connection refused at `connection_init` with a close code of its own (e.g. 4429 while throttled). */
export interface WsRefusal {
  code: number;
  /** At most 123 bytes (longer is cut). */
  reason: string;
}

/** What a connection needs from its server (ws-server.ts). */
export interface ConnectionHost {
  readonly yoga: Yoga;
  readonly hooks: WsHooks;
  /**
   * Counts operations under way, so a stop can wait for queries and mutations to be answered;
   * settled once answered, or once streaming (a subscription is not waited for: it has no end in
   * sight, and a stop closes its socket without `complete`).
   */
  operationStarted(): void;
  operationSettled(): void;
  /** The server is stopping: new operations are left for the next server (ws-server.ts beginStop). */
  readonly stopping: boolean;
}

type Enveloped = ReturnType<Yoga['getEnveloped']>;
type Outcome = ExecutionResult | AsyncIterable<ExecutionResult>;

/** Bytes queued on one socket beyond which its subscriptions stop pulling until it drains. */
const HIGH_WATER_BYTES = 1_048_576;
/**
 * Queries and mutations one socket may have in flight: executing, or answered and not yet out of a
 * buffer above HIGH_WATER_BYTES. Subscriptions are bounded per principal (auth/rate-limit.ts); these
 * were not, and one socket that sent hundreds of large queries and read nothing held the database
 * pool for minutes (the queries run on after the socket closes: cancelling one is unsafe, health.ts).
 */
export const MAX_ANSWERING = 16;

function tooManyAnswering(): GraphQLError {
  return new GraphQLError(`At most ${MAX_ANSWERING} queries and mutations in flight per connection; wait for an answer (and read it) before sending more`, {
    extensions: { code: 'RATE_LIMITED' },
  });
}
const INTERNAL = 'Unexpected error.';

/**
 * One `next` payload's JSON (UTF-8), and the message's closing brace, per result object. Subscribers running the same document with the
 * same variables get the same result object for an event (shared-results.ts; masking keeps an
 * error-free result as it is), so 10,000 subscribers of 100 tasks serialize 100 payloads.
 */
const payloadBytes = new WeakMap<object, Buffer>();

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (typeof error.extensions.code !== 'string') error.extensions.code = code;
  return error;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** One client operation: its id and, once it streams, the results it pulls. */
class Operation {
  iterator?: AsyncIterator<ExecutionResult>;
  /** Its results already there, taken past the wrappers (shared-results.ts ReadyResults). */
  fast?: ReadyResults;
  /** `{"id":…,"type":"next","payload":` in UTF-8: every `next` of this operation starts so. */
  readonly nextPrefix: Buffer;
  /** The pump's callbacks for a step still to come: made at the operation's first wait, reused for every later one. */
  resume?: (step: IteratorResult<ExecutionResult>) => void;
  fail?: (error: unknown) => void;
  /** The pump's callback for a step it awaits at its stream (ReadyResults.awaitReady): made once, reused. */
  wake?: () => void;
  /** No longer holds a stop's drain (ConnectionHost.operationSettled): answered, streaming, or left for the next server. */
  settled = false;
  constructor(readonly id: string) {
    this.nextPrefix = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
  }
}

/**
 * One graphql-transport-ws socket: the protocol's messages, and its operations run through
 * yoga's envelop. Close codes and reasons are graphql-ws's (its constants and message parser).
 */
export class Connection {
  readonly ops = new Map<string, Operation>();
  initReceived = false;
  acknowledged = false;
  awaitingPong = false;
  /** This socket's outgoing text frames (ws-frames.ts). */
  private readonly frames: FrameQueue;
  /** Settles when the TCP socket drains, while a client is behind. */
  private drained: { promise: Promise<void>; release(): void } | undefined;
  private enveloped?: Enveloped;
  /** Queries and mutations in flight (MAX_ANSWERING). */
  private answering = 0;
  private connectionParams?: Record<string, unknown>;
  initTimer?: NodeJS.Timeout;

  constructor(
    readonly server: ConnectionHost,
    readonly socket: WebSocket,
    /** The upgrade's TCP socket: the one `ws` writes frames to. */
    readonly tcp: Socket,
    readonly request: IncomingMessage,
  ) {
    this.frames = new FrameQueue(socket, tcp);
  }

  /** Queues a text frame (a control message: ack, pong, complete, error); written at the end of the burst. */
  send(text: string): void {
    this.frames.text(Buffer.from(text));
  }

  /** Writes the frames queued so far: a close frame must follow them, not overtake them. */
  flush(): void {
    this.frames.flush();
  }

  /** Closes with `reason` cut to the 123 bytes a close frame holds (ws throws beyond). */
  close(code: number, reason: string): void {
    this.flush();
    if (Buffer.byteLength(reason) <= 123) return this.socket.close(code, reason);
    let cut = reason.slice(0, 120); // the id in it is the client's: any length, any characters
    while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
    this.socket.close(code, `${cut}…`);
  }

  onMessage(text: string): void {
    let message;
    try {
      message = parseMessage(text);
    } catch {
      this.close(CloseCode.BadRequest, 'Invalid message received');
      return;
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        if (this.initReceived) return this.close(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
        this.initReceived = true;
        clearTimeout(this.initTimer);
        if (typeof message.payload === 'object' && message.payload !== null) this.connectionParams = message.payload;
        void this.accept();
        return;
      case MessageType.Ping:
        this.send(stringifyMessage(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }));
        return;
      case MessageType.Pong:
        return;
      case MessageType.Subscribe: {
        if (!this.acknowledged) return this.close(CloseCode.Unauthorized, 'Unauthorized');
        if (this.ops.has(message.id)) return this.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${message.id} already exists`);
        const op = new Operation(message.id);
        this.ops.set(op.id, op);
        // Stopping: not started here, nor refused (an `error` is final for graphql-ws's client).
        // The socket closes with 1012 within the drain, and the client sends it again after reconnecting.
        if (this.server.stopping) {
          op.settled = true;
          return;
        }
        this.server.operationStarted();
        this.start(op, message.payload).catch((error: unknown) => this.onFail(op, error));
        return;
      }
      case MessageType.Complete: {
        // The client is done: no `complete` back (the protocol says so).
        const op = this.ops.get(message.id);
        if (op) this.cancel(op);
        return;
      }
      default:
        this.close(CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  /** Acknowledges the connection once the onConnect hook (if any) lets it in. */
  private async accept(): Promise<void> {
    let allowed: boolean | void | WsRefusal = true;
    try {
      allowed = await this.server.hooks.onConnect?.({ connectionParams: this.connectionParams, request: this.request, socket: this.socket });
    } catch (error) {
      this.server.yoga.logger.warn(`graphql-ws onConnect refused a connection: ${error instanceof Error ? error.message : String(error)}`);
      allowed = false;
    }
    if (allowed === false) return this.close(CloseCode.Forbidden, 'Forbidden');
    if (typeof allowed === 'object') return this.close(allowed.code, allowed.reason);
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.acknowledged = true;
    this.send(stringifyMessage({ type: MessageType.ConnectionAck }));
  }

  /** Parses, validates and runs one operation through yoga's envelop (limits, masking, shared results). */
  private async start(op: Operation, payload: SubscribePayload): Promise<void> {
    await this.server.hooks.onSubscribe?.({ connectionParams: this.connectionParams, request: this.request, payload });
    // One envelop per connection (its plugins keep no per-operation state: limits and masking
    // are per call of parse/validate/execute); the context is per operation (below).
    const env = (this.enveloped ??= this.server.yoga.getEnveloped({ req: this.request, socket: this.socket, connectionParams: this.connectionParams } as never));
    let document: DocumentNode;
    try {
      document = env.parse(payload.query);
    } catch (error) {
      if (isGraphQLError(error)) return this.sendErrors(op, [withCode(error, GRAPHQL_CODES.parseFailed)]);
      throw error;
    }
    const errors = env.validate(env.schema, document) as readonly GraphQLError[];
    if (errors.length > 0) return this.sendErrors(op, errors.map((e) => withCode(e, GRAPHQL_CODES.validationFailed)));
    const operation = getOperationAST(document, payload.operationName);
    if (!operation) return this.sendErrors(op, [unidentifiedOperation(document, payload.operationName) as GraphQLError]);
    const answer = operation.operation !== 'subscription';
    if (answer && this.answering >= MAX_ANSWERING) return this.sendErrors(op, [tooManyAnswering()]);
    if (answer) this.answering++;
    // Released once the answer has left the socket's buffer (below), or here on any other way out.
    let releaseLater = false;
    try {
      await this.run(op, payload, env, document, !answer);
      releaseLater = answer && this.behind();
    } finally {
      if (answer && !releaseLater) this.answering--;
    }
    if (releaseLater) void this.waitForDrain().then(() => this.answering--);
  }

  private async run(op: Operation, payload: SubscribePayload, env: Enveloped, document: DocumentNode, subscription: boolean): Promise<void> {
    const args: ExecutionArgs = {
      schema: env.schema,
      document,
      operationName: payload.operationName ?? undefined,
      variableValues: payload.variables ?? undefined,
      // Per operation: the caller's identity (the socket's principal) and references to shared
      // services (src/graphql/context.ts). A copy: envelop builds every context of this envelop
      // into the one initial object, which the socket's other operations would then share.
      contextValue: { ...((await env.contextFactory()) as GraphQLContext) },
    };
    const outcome = (await (subscription ? env.subscribe(args) : env.execute(args))) as Outcome;
    if (this.ops.get(op.id) !== op) {
      // Completed by the client (or the socket closed) while starting.
      if (isAsyncIterable(outcome)) void outcome[Symbol.asyncIterator]().return?.();
      return;
    }
    if (!isAsyncIterable(outcome)) {
      // Refused because the hubs are stopping (SHUTTING_DOWN): as an operation asked for while
      // stopping, left for the next server rather than answered with a final error.
      if (this.server.stopping && refusedForStop(outcome)) return this.settle(op);
      this.sendNext(op, outcome);
      this.complete(op);
      return;
    }
    op.iterator = outcome[Symbol.asyncIterator]();
    op.fast = takeReadyResults(args.contextValue as object);
    this.settle(op);
    this.pump(op);
  }

  /**
   * Sends each result as it comes; `complete` when the stream ends. Results already queued come
   * as ReadySteps (ready-step.ts) and are taken without a promise: a burst of events costs a
   * subscriber one promise chain, not one per event. Not an async function: a waiting subscription
   * then held a suspended frame (and `start`'s, awaiting it) with their promises — the largest
   * share of a subscriber's memory in the heap snapshots of (g) after envelop's own; now it holds
   * the two callbacks on its Operation.
   */
  private pump(op: Operation): void {
    const iterator = op.iterator as AsyncIterator<ExecutionResult>;
    const fast = op.fast;
    try {
      for (;;) {
        // Queued, error-free results first, past the wrappers that would hand them on unchanged.
        const ready = fast?.takeReady();
        if (ready !== undefined) {
          if (this.ops.get(op.id) !== op || !this.deliver(op, ready)) return;
          continue;
        }
        // Nothing ready: wait at the stream itself, past the wrappers (ReadyResults.awaitReady).
        const arrival = fast?.awaitReady();
        if (arrival) {
          if (arrival instanceof ReadyStep) continue;
          arrival.then((op.wake ??= () => this.wake(op)));
          return;
        }
        const next = iterator.next() as unknown;
        if (!(next instanceof ReadyStep)) {
          (next as Promise<IteratorResult<ExecutionResult>>).then(
            (op.resume ??= (step) => {
              if (this.take(op, step)) this.pump(op);
            }),
            (op.fail ??= (error: unknown) => this.onFail(op, error)),
          );
          return;
        }
        if (!this.take(op, next.value as IteratorResult<ExecutionResult>)) return;
      }
    } catch (error) {
      this.onFail(op, error);
    }
  }

  /** `op`'s stream has its next step (ReadyResults.awaitReady): pump again, if the operation is still on. */
  private wake(op: Operation): void {
    if (this.ops.get(op.id) === op) this.pump(op);
  }

  /** Sends one step of `op`'s stream; false when the pump is to stop (the operation is gone, ended, or waits for a drain). */
  private take(op: Operation, step: IteratorResult<ExecutionResult>): boolean {
    if (this.ops.get(op.id) !== op) return false;
    if (step.done) {
      this.complete(op); // ended by itself: nothing to return()
      return false;
    }
    return this.deliver(op, step.value);
  }

  /** Sends one result of `op`, whose operation is current; false when the pump is to stop (failed, or waits for a drain). */
  private deliver(op: Operation, result: ExecutionResult): boolean {
    try {
      this.sendNext(op, result);
    } catch (error) {
      this.onFail(op, error);
      return false;
    }
    // A client that does not read: stop pulling (its streams conflate meanwhile) until it drains.
    if (this.behind()) {
      void this.waitForDrain().then(() => {
        if (this.ops.get(op.id) === op) this.pump(op);
      });
      return false;
    }
    return true;
  }

  /** Whether the client is behind: more than HIGH_WATER_BYTES queued for it and the socket waits for a drain. */
  private behind(): boolean {
    return this.tcp.writableNeedDrain && this.socket.bufferedAmount + this.frames.pendingBytes > HIGH_WATER_BYTES;
  }

  private waitForDrain(): Promise<void> {
    if (!this.drained) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      const done = (): void => {
        this.tcp.off('drain', done);
        this.drained = undefined;
        resolve();
      };
      this.tcp.once('drain', done);
      this.drained = { promise, release: done };
    }
    return this.drained.promise;
  }

  /** An operation failed: the client gets a masked error, the log the original. */
  onFail(op: Operation, error: unknown): void {
    if (this.ops.get(op.id) !== op) return;
    const masked = maskError(error, INTERNAL);
    if (masked !== error) this.server.yoga.logger.error(error);
    this.sendErrors(op, [masked as GraphQLError]);
  }

  private sendNext(op: Operation, result: ExecutionResult): void {
    let json = payloadBytes.get(result);
    if (json === undefined) {
      // With the message's closing brace: a frame is then two parts to copy, not three.
      json = Buffer.from(`${JSON.stringify(result)}}`);
      payloadBytes.set(result, json);
    }
    this.frames.text(op.nextPrefix, json);
  }

  private sendErrors(op: Operation, errors: readonly GraphQLError[]): void {
    if (this.ops.get(op.id) !== op) return;
    this.forget(op);
    // clientError: graphql-ws sends errors as they are, so yoga's `http` on a validation error would go out too.
    const payload = errors.map((e) => (typeof e.toJSON === 'function' ? clientError(e).toJSON() : { message: e.message }));
    this.send(stringifyMessage({ id: op.id, type: MessageType.Error, payload }));
  }

  /** The operation is done: the client hears `complete`. */
  private complete(op: Operation): void {
    this.forget(op);
    this.send(`{"id":${JSON.stringify(op.id)},"type":"complete"}`);
  }

  /** Stops an operation the client no longer wants (it completed it, or the socket closed). */
  cancel(op: Operation): void {
    if (this.ops.get(op.id) !== op) return;
    this.forget(op);
    if (op.iterator?.return) void Promise.resolve(op.iterator.return()).catch(() => undefined);
  }

  private forget(op: Operation): void {
    this.ops.delete(op.id);
    this.settle(op);
  }

  private settle(op: Operation): void {
    if (op.settled) return;
    op.settled = true;
    this.server.operationSettled();
  }

  closed(): void {
    clearTimeout(this.initTimer);
    for (const op of [...this.ops.values()]) this.cancel(op);
    // A socket closed while behind never drains: let waiting operations see they are gone.
    this.drained?.release();
  }
}


