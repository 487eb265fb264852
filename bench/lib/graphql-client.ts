import { range } from './wait.js';

/**
 * `clients` keep-alive loops share `total` requests, each loop sending its next as soon as its last
 * is answered; returns the seconds they took. `request` gets the request's number and its loop's.
 */
export async function hammer(clients: number, total: number, request: (i: number, client: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(range(0, clients).map(async (client) => {
    while (next < total) await request(next++, client);
  }));
  return (performance.now() - t0) / 1000;
}

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
