import type { ExecutionArgs, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { WebSocketServer } from 'ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { GraphQLContext } from '../graphql/context.js';
import { GRAPHQL_CODES, isGraphQLError } from '../graphql/errors.js';
import type { ServerContext } from './http.js';

interface EnvelopedRoot {
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
}

export interface GraphQLWsServer {
  /** Resolves once every running operation has sent its `complete` (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void>;
  /** Closes every socket (1001 Going away) and the WebSocket server. */
  dispose(): Promise<void>;
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (typeof error.extensions.code !== 'string') error.extensions.code = code;
  return error;
}

/**
 * graphql-ws (`graphql-transport-ws`) on `wss`, running operations through yoga's envelop, so
 * a subscription over WebSocket gets the same context, limits and error masking as over HTTP.
 * Modelled on graphql-yoga's examples/graphql-ws.
 */
export function useGraphQLWs(wss: WebSocketServer, yoga: YogaServerInstance<ServerContext, GraphQLContext>, keepAliveMs: number): GraphQLWsServer {
  let running = 0;
  let idle: (() => void) | undefined;
  const server = useServer(
    {
      // Close reasons and error messages stay generic: nothing internal reaches a client.
      isProd: true,
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          if (isGraphQLError(error)) return [withCode(error, GRAPHQL_CODES.parseFailed)];
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors.map((e: GraphQLError) => withCode(e, GRAPHQL_CODES.validationFailed));
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        running += 1;
        return args;
      },
      // Called just before graphql-ws sends `complete` (or drops it for an unsubscribed client).
      onComplete: () => {
        running -= 1;
        if (running === 0) idle?.();
      },
    },
    wss,
    keepAliveMs,
  );
  return {
    async drain(timeoutMs) {
      if (running > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          idle = resolve;
          timer = setTimeout(resolve, timeoutMs);
        });
        clearTimeout(timer);
      }
      // onComplete runs a microtask before the send: one turn of the loop, and every
      // `complete` is queued on its socket ahead of the close frame.
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    async dispose() {
      await server.dispose();
    },
  };
}
