import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * Signs that a response says more than it should: a stack frame ("    at f (…)"), a file path
 * or a source location. A pattern that the request itself contains is not held against the
 * response (an error may quote the offending input).
 */
const LEAK_PATTERNS: RegExp[] = [
  /\n\s*at [^\n]*\(/,
  / {4}at /,
  /(?:^|[\s"'(])\/(?:work|home|root|usr|tmp|opt|var|src|node_modules)\//,
  /file:\/\//,
  /\.[cm]?[jt]s:\d+(?::\d+)?/,
  /node_modules/,
  /PostgresError|\bSQLSTATE\b|violates .* constraint/,
];

/** The leak patterns `response` matches and `request` does not. */
export function leaks(response: string, request: string): string[] {
  return LEAK_PATTERNS.filter((p) => p.test(response) && !p.test(request)).map((p) => `${p} in ${response.slice(0, 300)}`);
}

/** Characters that break things: NUL, lone surrogates, quotes, backslashes, controls, emoji. */
const nastyChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udfff', '"', '\\', '\n', '\u2028', '💥', '\u202e') },
);
/** Strings from plain to hostile. */
export const nastyString = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ maxLength }), fc.string({ unit: nastyChar, maxLength }));

/** JSON with hostile strings and extreme numbers. */
export const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 53 + 1, -0, '', [], {}) },
  { weight: 1, arbitrary: fc.array(nastyString(), { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.dictionary(nastyString(16), nastyString(), { maxKeys: 4 }) },
);

const dateTimeInput: fc.Arbitrary<unknown> = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('0000-01-01T00:00:00Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '2020-02-30T00:00:00Z', 'now', ''),
  nastyString(30),
  fc.integer(),
);

const TASK_NAMES = ['math.copysign', 'demo.echo', 'demo.sleep', 'demo.fail', 'demo.progress', 'no.such.task', ''];

/** EnqueueTaskInput-shaped values that are wrong in one field or several, or in their shape. */
const hostileInput: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    name: fc.oneof(fc.constantFrom(...TASK_NAMES), nastyString(300), fc.integer(), fc.constant(null)),
    args: fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.double(), fc.double()).map((a) => a as unknown),
      fc.array(nastyJson, { maxLength: 4 }),
      nastyJson,
    ),
    kwargs: fc.oneof(fc.constant(undefined), fc.dictionary(nastyString(20), nastyJson, { maxKeys: 4 }), nastyJson),
    queue: fc.oneof(fc.constant(undefined), nastyString(150), fc.constant(null), fc.integer()),
    priority: fc.oneof(fc.constant(undefined), fc.integer({ min: -150, max: 150 }), fc.integer(), fc.double(), fc.string({ maxLength: 4 })),
    runAfter: fc.oneof(
      fc.constant(undefined),
      fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
      nastyString(40),
      fc.integer(),
    ),
    maxAttempts: fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 2000 }), fc.integer(), fc.string({ maxLength: 4 })),
    idempotencyKey: fc.oneof(fc.constant(undefined), nastyString(300), fc.constant(null)),
    timeoutMs: fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 2 ** 31 + 5 }), fc.double(), fc.string({ maxLength: 4 })),
    resultTtlMs: fc.oneof(fc.constant(undefined), fc.double(), fc.integer(), fc.constant(null), fc.string({ maxLength: 4 })),
    backoff: fc.oneof(
      fc.constant(undefined),
      fc.record({ baseMs: fc.double(), maxMs: fc.double(), factor: fc.oneof(fc.double(), fc.string({ maxLength: 4 })), jitter: fc.double() }, { requiredKeys: [] }),
      nastyJson,
    ),
    extra: fc.oneof(fc.constant(undefined), nastyJson),
  },
  { requiredKeys: [] },
).map((input) => Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));

/** Inputs that should be accepted (or just miss in one detail): known tasks with fitting arguments. */
const plausibleInput: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      task: fc.oneof(
        fc.tuple(fc.constant('math.copysign'), fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer())),
        fc.tuple(fc.constant('demo.echo'), fc.array(nastyJson, { maxLength: 3 })),
        fc.tuple(fc.constant('demo.sleep'), fc.tuple(fc.integer({ min: -10, max: 100_000_000 }))),
        fc.tuple(fc.constant('demo.fail'), fc.oneof(fc.tuple(nastyString()), fc.constant([]))),
      ),
      kwargs: fc.dictionary(nastyString(16), nastyJson, { maxKeys: 3 }),
      queue: nastyString(120),
      priority: fc.integer({ min: -110, max: 110 }),
      maxAttempts: fc.integer({ min: 0, max: 1005 }),
      idempotencyKey: nastyString(260),
      runAfter: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
    },
    { requiredKeys: ['task'] },
  )
  .map(({ task, ...rest }) => ({ name: task[0], args: task[1] as unknown, ...rest }));

/** A plausible input with exactly one field replaced by a hostile value. */
const oneFieldBroken: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    plausibleInput,
    fc.constantFrom('name', 'args', 'kwargs', 'queue', 'priority', 'runAfter', 'maxAttempts', 'idempotencyKey', 'timeoutMs', 'resultTtlMs', 'backoff'),
    fc.oneof(nastyJson, dateTimeInput, fc.integer(), fc.double(), nastyString(300)),
  )
  .map(([input, key, value]) => ({ ...input, [key]: value }));

/** EnqueueTaskInput-shaped values: plausible (many accepted), one field broken, or hostile throughout. */
export const enqueueInput: fc.Arbitrary<Record<string, unknown>> = fc.oneof(plausibleInput, oneFieldBroken, hostileInput);


const cursorOf = (id: string): string => Buffer.from(`task:${id}`).toString('base64url');

/**
 * Arguments of `tasks(first, after, last, before, filter)`: a valid set in which at most one
 * argument or filter field is replaced by a hostile value (a fuzzer that breaks everything at
 * once only ever meets the first check).
 */
export const listArguments: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    page: fc.oneof(fc.record({ first: fc.integer({ min: 0, max: 100 }) }), fc.record({ last: fc.integer({ min: 0, max: 100 }) })),
    after: fc.option(fc.uuid({ version: 7 }).map(cursorOf), { nil: undefined }),
    status: fc.option(fc.subarray(['PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED']), { nil: undefined }),
    name: fc.option(fc.constantFrom('demo.echo', 'math.copysign'), { nil: undefined }),
    queue: fc.option(fc.constant('default'), { nil: undefined }),
    enqueuedAfter: fc.option(fc.constant('2020-01-01T00:00:00.000Z'), { nil: undefined }),
    broken: fc.oneof(
      fc.constant(undefined),
      fc.record({ key: fc.constantFrom('first', 'last', 'after', 'before'), value: fc.oneof(fc.integer(), fc.double(), nastyString(60)) }),
      fc.record({
        key: fc.constantFrom('filter.name', 'filter.queue', 'filter.status', 'filter.enqueuedAfter', 'filter.enqueuedBefore'),
        value: fc.oneof(nastyString(60), dateTimeInput, fc.array(nastyString(10), { maxLength: 2 })),
      }),
    ),
  })
  .map(({ page, after, status, name, queue, enqueuedAfter, broken }) => {
    const filter: Record<string, unknown> = { status, name, queue, enqueuedAfter };
    const args: Record<string, unknown> = { ...page, after, filter };
    if (broken?.key.startsWith('filter.')) filter[broken.key.slice('filter.'.length)] = broken.value;
    else if (broken) args[broken.key] = broken.value;
    return JSON.parse(JSON.stringify(args)) as Record<string, unknown>; // drops the undefined ones
  });

export const LIST_QUERY =
  'query ($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) { tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage } } }';

export const ENQUEUE_MUTATION = 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id status name } } }';

/** Valid operations the document fuzzer starts from. */
export const SEED_DOCUMENTS = [
  'query { queueStats { queue total pending oldestPendingAgeMs } }',
  'query ($id: ID!) { taskResult(id: $id) { id status returnValue errors { exceptionType message } } }',
  'query ($first: Int, $after: String) { tasks(first: $first, after: $after, filter: { status: [PENDING] }) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } totalCount } }',
  'query ($id: ID!) { node(id: $id) { __typename id ... on Task { name status } } }',
  'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id status } } }',
  'mutation { enqueueTask(input: { name: "demo.echo", args: [1, "two", { three: 3 }] }) { task { id } } }',
  'mutation ($id: ID!) { cancelTask(id: $id) { id status } }',
  'mutation ($id: ID!) { retryTask(id: $id) { id status } }',
  'query Q { __schema { queryType { name } types { name kind } } }',
  'fragment F on Task { id name status } query ($id: ID!) { taskResult(id: $id) { ...F } }',
  'query ($last: Int, $before: String, $name: String, $queue: String) { tasks(last: $last, before: $before, filter: { name: $name, queue: $queue, enqueuedAfter: "2020-01-01T00:00:00Z" }) { totalCount edges { node { id } } } }',
  'subscription ($id: ID!) { taskStatusChanged(id: $id) { id status version } }',
];

/** Pieces the fuzzer splices in: GraphQL punctuation, keywords, huge and odd literals. */
const SPLICES = [
  '{', '}', '(', ')', '[', ']', ':', '$', '!', '@', '...', ',', '"', '"""', '#', '\n', '\\u0000', '\\ud800',
  'query', 'mutation', 'subscription', 'fragment', 'on', '__typename', '__schema', '@skip(if: true)', '@include(if: $x)',
  'a: queueStats { queue }', '99999999999999999999', '-0', '1e400', 'null', 'true', '$id', '$undefined', '"💥"', '\u0000', '\ud800',
];

type Edit = { at: number; kind: 'delete' | 'insert' | 'duplicate'; length: number; text: string };

const edit: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('delete', 'insert', 'duplicate'),
  length: fc.integer({ min: 1, max: 20 }),
  text: fc.oneof(fc.constantFrom(...SPLICES), nastyString(8)),
});

function applyEdit(doc: string, e: Edit): string {
  const at = doc.length === 0 ? 0 : e.at % (doc.length + 1);
  switch (e.kind) {
    case 'delete':
      return doc.slice(0, at) + doc.slice(at + e.length);
    case 'insert':
      return doc.slice(0, at) + e.text + doc.slice(at);
    case 'duplicate':
      return doc.slice(0, at + e.length) + doc.slice(at, at + e.length) + doc.slice(at + e.length);
  }
}

/** A seed document (from `seeds`) with a few random edits, and random variables. */
export const mutatedOperation = (seeds: readonly string[] = SEED_DOCUMENTS): fc.Arbitrary<{ query: string; variables: Record<string, unknown> }> =>
  fc
  .record({
    seed: fc.constantFrom(...seeds),
    edits: fc.array(edit, { minLength: 0, maxLength: 4 }),
    variables: fc.record(
      {
        id: fc.oneof(fc.uuid({ version: 7 }), nastyString(40), fc.integer()),
        first: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.integer(), fc.string({ maxLength: 3 })),
        last: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.integer()),
        after: nastyString(40),
        before: nastyString(40),
        name: nastyString(40),
        queue: nastyString(40),
        input: enqueueInput,
        x: nastyJson,
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ seed, edits, variables }) => ({ query: edits.reduce(applyEdit, seed), variables }));

/** A graphql-ws client for hostile operations: no retries, every failure surfaces. */
export function plainWsClient(wsUrl: string): Client {
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

export interface WsOutcome {
  /** Every message payload received for the operation, as JSON text. */
  texts: string[];
  /** How it ended: completed, an `error` message, or still open when the deadline came. */
  end: 'complete' | 'error' | 'open';
  /** `data` of the results. */
  data: unknown[];
  /** Whether an error (GraphQL or transport) came back. */
  errored: boolean;
  /** A transport failure (the socket closed under the operation), if any. */
  transport?: string;
}

/**
 * Runs one operation over graphql-ws and collects what comes back. Queries and mutations end
 * by themselves; a subscription a mutation happened to produce may stay open, so after
 * `deadlineMs` it is unsubscribed and reported as 'open'.
 */
export function runOverWs(client: Client, query: string, variables: Record<string, unknown>, deadlineMs = 2000): Promise<WsOutcome> {
  const outcome: WsOutcome = { texts: [], end: 'open', data: [], errored: false };
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (end: WsOutcome['end']): void => {
      clearTimeout(timer);
      outcome.end = end;
      resolve(outcome);
    };
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          outcome.texts.push(JSON.stringify(result));
          if (result.data) outcome.data.push(result.data);
          if (result.errors) outcome.errored = true;
        },
        error: (error) => {
          outcome.errored = true;
          if (Array.isArray(error)) outcome.texts.push(JSON.stringify(error));
          else outcome.transport = error instanceof Error ? error.message : JSON.stringify({ code: (error as { code?: number }).code });
          finish('error');
        },
        complete: () => finish('complete'),
      },
    );
    timer = setTimeout(() => {
      unsubscribe();
      finish('open');
    }, deadlineMs);
  });
}

export interface RawResponse {
  /** HTTP status, or 0 when the server cut the connection before a response could be read. */
  status: number;
  text: string;
}

/**
 * POSTs `body` with node:http, declaring its length or sending it chunked. Reads whatever response
 * came and reports a connection cut before any answer as status 0: the server reads the rest of a
 * refused upload up to a cap, and cuts a client that sends far beyond it.
 */
export function postRaw(url: string, body: Buffer | string, options: { chunked?: boolean } = {}): Promise<RawResponse> {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (r: RawResponse): void => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!options.chunked) headers['content-length'] = data.length;
    let responded = false;
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      responded = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, text }));
      res.on('error', () => done({ status: res.statusCode ?? 0, text }));
      res.on('close', () => done({ status: res.statusCode ?? 0, text }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('no response within 15 s')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A cut connection: the answer, if it came, settles it (above); else the request's close does.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET' && !settled) reject(error);
    });
    // Emitted after the socket's last data was parsed: no response by then is none at all. (It was
    // a 100 ms timer after the error, which a loaded machine outlasted: a 413 read late was a 0.)
    req.on('close', () => {
      if (!responded) done({ status: 0, text: '' });
    });
    for (let at = 0; at < data.length; at += 64 * 1024) req.write(data.subarray(at, at + 64 * 1024));
    req.end();
  });
}
