import type { GraphQLFormattedError } from 'graphql';

/**
 * Building a server is test/helpers/app.ts's job (startTestServer, useTestServer,
 * useGatedTestServer); these names are re-exported for the files that still import them here.
 */
export {
  FAST_RUNNER,
  startTestServer,
  useGatedTestServer,
  type Response,
  type TestServer,
  type TestServerOptions,
} from './app.js';

/** The one error of a response, or a failed assertion saying what came instead. */
export function onlyError(response: { errors?: readonly GraphQLFormattedError[] | undefined }): GraphQLFormattedError {
  if (response.errors?.length !== 1) throw new Error(`expected one error, got ${JSON.stringify(response.errors ?? response)}`);
  return response.errors[0] as GraphQLFormattedError;
}

/** The `extensions.code` of each error, in order (undefined where an error has none). */
export function errorCodes(errors: readonly unknown[] | undefined): unknown[] {
  return (errors ?? []).map((e) => (e as { extensions?: { code?: unknown } } | null)?.extensions?.code);
}
