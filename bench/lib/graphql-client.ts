/**
 * GraphQL over HTTP with Node's fetch (undici, keep-alive by default).
 * @param authorization the `Authorization` header (`Bearer <credential>`, for a server with AUTH_MODE=on); none when undefined.
 */
export async function gql<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>, authorization?: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (!response.ok || body.errors || !body.data) {
    throw new Error(`GraphQL ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

export const ENQUEUE = /* GraphQL */ `
  mutation Enqueue($input: EnqueueTaskInput!) {
    enqueueTask(input: $input) { task { id status version } }
  }`;

export interface EnqueueData {
  enqueueTask: { task: { id: string; status: string; version: number } };
}
