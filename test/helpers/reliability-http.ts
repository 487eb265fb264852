import { expect } from 'vitest';
import { postRaw } from './reliability-hostile.js';

/** A response as the hostile-input tests look at it. */
export interface HttpResult {
  status: number;
  text: string;
  json?: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: unknown } }[] };
}

export function safeJson(text: string): HttpResult['json'] {
  try {
    return JSON.parse(text) as HttpResult['json'];
  } catch {
    return undefined;
  }
}

/** POSTs a body as is to `url`; bounded by a deadline, so a hang fails the test instead of stalling it. */
export async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: safeJson(text) };
}

/** A POST through node:http (see postRaw: an early 413 and a cut connection are told apart). */
export async function postNode(url: string, body: string, options: { chunked?: boolean } = {}): Promise<HttpResult> {
  const res = await postRaw(url, body, options);
  return { status: res.status, text: res.text, json: safeJson(res.text) };
}

/** GETs `url` + `query`. */
export async function get(url: string, query: string): Promise<HttpResult> {
  const res = await fetch(`${url}${query}`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, text, json: safeJson(text) };
}

/** The id of the task an operation created, if its answer says it created one. */
export function createdId(data: unknown): string | undefined {
  const task = (data as { enqueueTask?: { task?: { id?: unknown } } } | null | undefined)?.enqueueTask?.task;
  return typeof task?.id === 'string' ? task.id : undefined;
}

/** Every error carries a code, and none is an internal one: bad input is the client's error, never a crash. */
export function expectCodes(errors: { extensions?: { code?: unknown } }[] | undefined): void {
  for (const e of errors ?? []) {
    expect(typeof e.extensions?.code).toBe('string');
    expect(e.extensions?.code, JSON.stringify(e)).not.toBe('INTERNAL_SERVER_ERROR');
  }
}

/** expectCodes for graphql-ws payloads (results with `errors`, or an `error` message's array). */
export function expectWsCodes(texts: string[]): void {
  for (const text of texts) {
    const parsed = JSON.parse(text) as { errors?: { extensions?: { code?: unknown } }[] } | { extensions?: { code?: unknown } }[];
    expectCodes(Array.isArray(parsed) ? parsed : parsed.errors);
  }
}
