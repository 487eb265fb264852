import { isPayloadForbidden, PayloadForbiddenError } from './errors.js';
import type { TypedDocumentString } from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import type { AnswerOptions } from './task-state.js';

/**
 * A mutation by id (`cancelTask`, `retryTask`, `runTaskNow`, `cancelWorkflow`) as a client method
 * named `method`: its answer with the payload (`full`), or with `{ payload: false }` the state alone
 * (`state`). FORBIDDEN below the mutation's field, with the payload asked, is PayloadForbiddenError: the
 * mutation was carried out.
 */
export function mutationById<F extends string, Full, State>(
  http: HttpTransport,
  signal: AbortSignal,
  field: F,
  method: string,
  documents: { full: TypedDocumentString<Record<F, Full>, { id: string }>; state: TypedDocumentString<Record<F, State>, { id: string }> },
): (id: string, answer?: AnswerOptions) => Promise<Full | State> {
  return async (id, answer = {}) => {
    if (answer.payload === false) return (await http.request(documents.state, { id }, signal))[field];
    try {
      return (await http.request(documents.full, { id }, signal))[field];
    } catch (error) {
      if (isPayloadForbidden(error, field)) throw new PayloadForbiddenError(field, method, error);
      throw error;
    }
  };
}
