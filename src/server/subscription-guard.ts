import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import type { PrincipalLimiter } from '../auth/rate-limit.js';
import { UnauthenticatedError } from '../errors.js';
import type { GraphQLContext } from '../graphql/context.js';
import { markRequestErrors, maskError } from '../graphql/errors.js';
import type { CredentialWatch } from './credential-watch.js';

/** How an operation reached the server: graphql-ws ends a whole socket on an invalid credential, SSE one stream. */
export type Transport = 'http' | 'ws';

/**
 * The transport of an operation, from its context: yoga merges the context made for an
 * operation into its initial one, which holds the socket for graphql-ws (ws-connection.ts)
 * and the Fetch request for HTTP.
 */
export function transportOf(context: object): Transport {
  return (context as { socket?: unknown }).socket !== undefined ? 'ws' : 'http';
}

export interface SubscriptionGuardOptions {
  /** Counts open subscriptions per principal (MAX_SUBSCRIPTIONS_PER_PRINCIPAL). */
  limiter: Pick<PrincipalLimiter, 'openSubscription'>;
  /** Ends SSE streams whose credential expires or is revoked (graphql-ws sockets are ended by the connection). */
  watch: CredentialWatch;
}

const DONE: IteratorResult<ExecutionResult> = Object.freeze({ value: undefined, done: true });

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** A result carrying one expected error, as a stream that could not start carries it. */
function errorResult(error: Error): ExecutionResult {
  const masked = maskError(error, 'Unexpected error.');
  markRequestErrors([masked]);
  return { errors: [masked as never] };
}

/**
 * `source`, calling `release` once when it ends however it ends (done, return(), an error):
 * envelop's `onEnd` misses a stream that fails. One `then` per result, no async frame. A class,
 * its two `then` callbacks made at the first `next()`: a server holds one per graphql-ws
 * subscription, and an object literal of closures cost each five closures, their context and a
 * name string for its computed `[Symbol.asyncIterator]` method.
 */
class Releasing implements AsyncIterableIterator<ExecutionResult> {
  private onStep: ((step: IteratorResult<ExecutionResult>) => IteratorResult<ExecutionResult>) | undefined;
  private onError: ((error: unknown) => never) | undefined;

  constructor(
    private readonly source: AsyncIterator<ExecutionResult>,
    private readonly release: () => void,
  ) {}

  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.source.next().then(
      (this.onStep ??= (step) => {
        if (step.done) this.release();
        return step;
      }),
      (this.onError ??= (error: unknown) => {
        this.release();
        throw error;
      }),
    );
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.release();
    await this.source.return?.();
    return DONE;
  }

  async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.release();
    await this.source.return?.();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ExecutionResult> {
    return this;
  }
}

/**
 * The stream of an SSE subscription, ended when its credential stops being good: the client gets
 * one more result, an UNAUTHENTICATED error, then the end (`event: complete`). `release` is called
 * once when it ends, however it ends.
 */
function endWhenInvalid(
  source: AsyncIterator<ExecutionResult>,
  principal: Principal,
  watch: CredentialWatch,
  release: () => void,
): AsyncIterableIterator<ExecutionResult> {
  let invalid = false;
  let ended = false;
  /** The resolver of the next() waiting on the source: the credential or a return() may settle it first. */
  let pending: ((step: IteratorResult<ExecutionResult>) => void) | undefined;
  const settle = (step: IteratorResult<ExecutionResult>): void => {
    const resolve = pending;
    pending = undefined;
    resolve?.(step);
  };
  const end = (): void => {
    ended = true;
    untrack();
    release();
  };
  const finish = (): IteratorResult<ExecutionResult> => {
    end();
    void Promise.resolve(source.return?.()).catch(() => undefined);
    return { value: errorResult(new UnauthenticatedError('The credential expired or was revoked: authenticate again')), done: false };
  };
  const untrack = watch.track(principal, () => {
    invalid = true;
    if (pending) settle(finish());
  });
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next() {
      if (ended) return Promise.resolve(DONE);
      if (invalid) return Promise.resolve(finish());
      return new Promise<IteratorResult<ExecutionResult>>((resolve, reject) => {
        pending = resolve;
        source.next().then(
          (step) => {
            if (pending !== resolve) return; // settled already: the credential went, or return()
            pending = undefined;
            if (step.done) end();
            resolve(step);
          },
          (error: unknown) => {
            if (pending !== resolve) return;
            pending = undefined;
            end();
            reject(error);
          },
        );
      });
    },
    async return() {
      end();
      settle(DONE);
      await source.return?.();
      return DONE;
    },
    async throw(error: unknown) {
      end();
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * Per-principal rules of open subscriptions, on every transport:
 * - the cap (MAX_SUBSCRIPTIONS_PER_PRINCIPAL): a subscription over it gets RATE_LIMITED (with
 *   `retryAfterMs`) instead of a stream; a slot is held until the stream ends, however it ends;
 * - SSE streams end with UNAUTHENTICATED when the credential expires or is revoked.
 * Counted once the stream exists: a subscription that could not start (NOT_FOUND …) holds no slot,
 * and no path leaves one held. ANONYMOUS (auth off) is neither counted nor watched.
 */
export function useSubscriptionGuard(o: SubscriptionGuardOptions): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as unknown as GraphQLContext;
      const principal = context.principal;
      if (principal.kind === 'anonymous') return undefined;
      const transport = transportOf(context);
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) return undefined;
          let release: () => void;
          try {
            release = o.limiter.openSubscription(principal);
          } catch (error) {
            void result[Symbol.asyncIterator]().return?.();
            setResult(errorResult(error as Error));
            return undefined;
          }
          const source = result[Symbol.asyncIterator]();
          setResult(transport === 'http' ? endWhenInvalid(source, principal, o.watch, release) : new Releasing(source, release));
          return undefined;
        },
      };
    },
  };
}
