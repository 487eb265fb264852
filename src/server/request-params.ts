import { getOperationAST, Kind, type DocumentNode, type GraphQLError } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import { GRAPHQL_CODES } from '../graphql/errors.js';
import { mediaTypeOf } from './http.js';

/** The GraphQL parameters a query string (GET) or a urlencoded form (POST) carries. */
const PARAMS = ['query', 'variables', 'operationName', 'extensions'] as const;

function badRequest(message: string): GraphQLError {
  // No `spec`: a malformed request is 400 whatever the Accept, as yoga's own parameter checks answer.
  return createGraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
}

/**
 * The GraphQL parameters of `search`, as yoga's parser reads them (an empty value counts as none)
 * except that a parameter given twice, or a `variables` / `extensions` that is not JSON, is a
 * BAD_REQUEST naming it. Yoga's parser lets the SyntaxError of `JSON.parse` escape, which is
 * masked and logged as an internal error (200 `INTERNAL_SERVER_ERROR`), and takes the first of
 * repeated parameters silently.
 */
export function paramsOfSearch(search: URLSearchParams): GraphQLParams {
  const value = (name: (typeof PARAMS)[number]): string | undefined => {
    const all = search.getAll(name);
    if (all.length > 1) throw badRequest(`The "${name}" param is given ${all.length} times: send it once.`);
    return all[0] || undefined;
  };
  const json = (name: 'variables' | 'extensions'): unknown => {
    const text = value(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badRequest(`Expected "${name}" param to be JSON, but it does not parse.`);
    }
  };
  return { query: value('query'), operationName: value('operationName'), variables: json('variables') as GraphQLParams['variables'], extensions: json('extensions') as GraphQLParams['extensions'] };
}

function isUrlEncodedPost(request: Request): boolean {
  return request.method === 'POST' && mediaTypeOf(request.headers.get('content-type')) === 'application/x-www-form-urlencoded';
}

/**
 * Why the operation to run cannot be told from `document` and `operationName` (worded for the
 * client, naming `operationName`), or undefined when it can.
 */
export function unidentifiedOperation(document: DocumentNode, operationName: string | null | undefined): GraphQLError | undefined {
  if (getOperationAST(document, operationName) !== null) return undefined;
  const count = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
  const message =
    operationName != null
      ? `No operation named "${operationName}" in the document: "operationName" must name one of its operations.`
      : count > 1
        ? `The document has ${count} operations and no "operationName": "operationName" must name the one to run.`
        : 'The document has no operation to run.';
  // As a validation error: 400 under application/graphql-response+json, 200 under application/json.
  return createGraphQLError(message, { extensions: { code: GRAPHQL_CODES.validationFailed, http: { status: 400, spec: true } } });
}

/**
 * Request parameters refused as what they are: yoga's parsers of a query string (GET) and of a
 * urlencoded form (POST) replaced by paramsOfSearch, and a document whose operation cannot be told
 * refused as GRAPHQL_VALIDATION_FAILED naming `operationName`, before yoga's own check answers
 * `OPERATION_RESOLUTION_FAILURE`, a code no client knows (src/error-codes.ts). Registered among the
 * app's plugins, so it runs after yoga's parsers are chosen and before yoga's operation check
 * (usePreventMutationViaGET), which yoga registers after every plugin of the app.
 */
export function useRequestParams(): Plugin {
  return {
    onRequestParse({ request, url, setRequestParser }) {
      if (request.method === 'GET') setRequestParser(() => paramsOfSearch(url.searchParams));
      else if (isUrlEncodedPost(request)) setRequestParser(async (r) => paramsOfSearch(new URLSearchParams(await r.text())));
    },
    onParse({ context }) {
      const { request, params } = context as { request?: Request; params?: GraphQLParams };
      // Only HTTP (and SSE) requests: graphql-ws checks its operations itself (live/ws-connection.ts).
      if (!request) return undefined;
      return ({ result }) => {
        if (result instanceof Error || result === null) return;
        const refusal = unidentifiedOperation(result, params?.operationName);
        if (refusal) throw refusal;
      };
    },
  };
}
