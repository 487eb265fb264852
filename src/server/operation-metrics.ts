import { getOperationAST, type DocumentNode, type GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { isErrorCode, type ErrorCode } from '../error-codes.js';
import { errorCodeOf } from '../graphql/errors.js';

/** An operation's type as `/metrics` labels it; `unknown` when its document does not tell (a parse error, no such operationName). */
export type OperationType = 'query' | 'mutation' | 'subscription' | 'unknown';

/** What an operation answered: OK, or its first error's code (one of ERROR_CODES: the label's values are bounded). */
export type OperationCode = ErrorCode | 'OK';

function typeOf(document: DocumentNode, operationName: string | null | undefined): OperationType {
  return getOperationAST(document, operationName ?? undefined)?.operation ?? 'unknown';
}

/** OK without errors; else the first error's code, `otherwise` when it has none of ERROR_CODES. */
function codeOf(errors: readonly GraphQLError[] | undefined, otherwise: ErrorCode = 'INTERNAL_SERVER_ERROR'): OperationCode {
  const first = errors?.[0];
  if (!first) return 'OK';
  // Yoga's own errors carry their code in extensions; a resolver's error gets its code from the
  // masking, which has not run yet: the same mapping (an outage's database error included).
  const code = first.extensions?.code ?? errorCodeOf(first);
  return isErrorCode(code) ? code : otherwise;
}

/**
 * Counts every GraphQL operation this server answers, over HTTP, SSE and graphql-ws, by type and
 * outcome (`count`: taskwire_graphql_operations_total): the refusals an outage or a flood makes
 * (DATABASE_UNAVAILABLE, RATE_LIMITED, INVALID_ARGUMENTS …) were in no metric. A document that
 * does not parse or validate counts as its code; a subscription counts once, when it starts (or
 * is refused). Refusals before GraphQL (401, 413, 415, 406 at the HTTP layer) are not operations:
 * taskwire_http_responses_total counts those (response-metrics.ts).
 */
export function useOperationMetrics(count: (type: OperationType, code: OperationCode) => void): Plugin {
  return {
    onParse() {
      return ({ result }) => {
        if (result instanceof Error) count('unknown', 'GRAPHQL_PARSE_FAILED');
      };
    },
    onValidate({ params }) {
      return ({ valid, result }) => {
        // graphql-js's own validation errors have no code; the limits' (depth, cost …) carry theirs.
        if (!valid) count(typeOf(params.documentAST, undefined), codeOf(result as GraphQLError[], 'GRAPHQL_VALIDATION_FAILED'));
      };
    },
    onExecute({ args }) {
      const type = typeOf(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          if (!isAsyncIterable(result)) count(type, codeOf(result.errors));
        },
      };
    },
    onSubscribe() {
      return {
        onSubscribeResult({ result }) {
          count('subscription', isAsyncIterable(result) ? 'OK' : codeOf(result.errors));
        },
      };
    },
  };
}
