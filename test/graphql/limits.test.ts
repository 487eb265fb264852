import { Lexer, Source, TokenKind, type GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type GraphQLLimits } from '../../src/graphql/limits.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

// Small limits, so each bound is easy to meet exactly and to pass by one.
const LIMITS: GraphQLLimits = { maxDepth: 3, maxAliases: 2, maxFields: 10, maxTokens: 30, maxCost: 10_000 };

let server: TestServer;
/** The default limits but a cost of 150, so that two pages of 100 are over it. */
let costServer: TestServer;
beforeAll(async () => {
  [server, costServer] = await Promise.all([startTestServer({ runner: false, app: { limits: LIMITS } }), startTestServer({ runner: false, app: { limits: { maxCost: 150 } } })]);
});
afterAll(async () => {
  await Promise.all([server?.close(), costServer?.close()]);
});

interface Outcome {
  status?: number;
  errors: readonly GraphQLFormattedError[];
}

async function overHttp(query: string, variables?: Record<string, unknown>, on: TestServer = server): Promise<Outcome> {
  const res = await on.post({ query, variables });
  return { status: res.status, errors: res.errors ?? [] };
}

/** Runs `query` over graphql-ws: refused operations come back as an `error` message, the socket stays. */
function overWs(query: string, variables?: Record<string, unknown>, on: TestServer = server): Promise<Outcome> {
  const client = on.wsClient();
  return new Promise<Outcome>((resolve) => {
    const errors: GraphQLFormattedError[] = [];
    client.subscribe(
      { query, variables },
      {
        next: (result) => void errors.push(...((result.errors ?? []) as GraphQLFormattedError[])),
        error: (error) => resolve({ errors: Array.isArray(error) ? (error as GraphQLFormattedError[]) : [{ message: String(error) }] }),
        complete: () => resolve({ errors }),
      },
    );
  });
}

const transports = [
  { name: 'HTTP', run: overHttp },
  { name: 'graphql-ws', run: overWs },
];

function tokens(query: string): number {
  const lexer = new Lexer(new Source(query));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n += 1;
  return n;
}

const code = (e: GraphQLFormattedError): unknown => e.extensions?.code;

/**
 * An error's extensions without `http`: yoga marks validation errors with the HTTP status it
 * answers with; over HTTP that stays on the server, over graphql-ws it is sent along.
 */
function extensionsOf(e: GraphQLFormattedError): Record<string, unknown> {
  const { http: _http, ...rest } = e.extensions ?? {};
  return rest;
}

describe.each(transports)('operation limits over $name', ({ name, run }) => {
  const refused = (o: Outcome, limit: keyof GraphQLLimits, max: number): void => {
    expect(o.errors.map(extensionsOf)).toEqual([{ code: 'GRAPHQL_VALIDATION_FAILED', limit, max }]);
    if (name === 'HTTP') expect(o.status).toBe(400);
  };
  const accepted = (o: Outcome): void => {
    expect(o.errors).toEqual([]);
    if (name === 'HTTP') expect(o.status).toBe(200);
  };

  it('maxDepth: fields nested to the limit run, one deeper is refused; fragments add no level', async () => {
    accepted(await run('{ tasks { edges { cursor } } }'));
    accepted(await run('{ tasks { ...E } } fragment E on TaskConnection { edges { ... on TaskEdge { cursor } } }'));
    refused(await run('{ tasks { edges { node { id } } } }'), 'maxDepth', 3);
    refused(await run('{ tasks { ...E } } fragment E on TaskConnection { edges { node { id } } }'), 'maxDepth', 3);
  });

  it('maxAliases: aliases up to the limit run, aliased __typename and fragment uses count', async () => {
    accepted(await run('{ a: __typename b: __typename }'));
    refused(await run('{ a: __typename b: __typename c: __typename }'), 'maxAliases', 2);
    accepted(await run('{ ...Q } fragment Q on Query { a: __typename b: __typename }'));
    refused(await run('{ ...Q ...Q } fragment Q on Query { a: __typename b: __typename }'), 'maxAliases', 2);
  });

  it('maxFields: fields up to the limit run, fragments count at each use, page sizes do not multiply', async () => {
    accepted(await run(`{ queueStats { ${'queue '.repeat(9)}} }`));
    refused(await run(`{ queueStats { ${'queue '.repeat(10)}} }`), 'maxFields', 10);
    // Fields of a fragment count at each use, plus 2 for the spread: 1 + (2 + 4) = 7, 1 + 2 × (2 + 4) = 13.
    accepted(await run('{ queueStats { ...Q } } fragment Q on QueueStats { queue total oldestPendingAgeMs pending }'));
    refused(await run('{ queueStats { ...Q ...Q } } fragment Q on QueueStats { queue total oldestPendingAgeMs pending }'), 'maxFields', 10);
    // Armor's cost alone would count these 100 times over (8 fields): literal and variable page sizes count once.
    accepted(await run('{ tasks(first: 100) { edges { cursor } pageInfo { ...P } } } fragment P on PageInfo { hasNextPage endCursor }'));
    accepted(await run('query($n: Int) { tasks(last: $n) { totalCount } }', { n: 100 }));
  });

  it('maxTokens: a document of exactly the limit parses, one token more is a parse error', async () => {
    const document = (k: number): string => `{ tasks(filter: { status: [${'PENDING '.repeat(k)}] }) { totalCount } }`;
    expect([tokens(document(14)), tokens(document(15))]).toEqual([30, 31]);
    accepted(await run(document(14)));
    const over = await run(document(15));
    expect(over.errors.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_PARSE_FAILED']);
    if (name === 'HTTP') expect(over.status).toBe(400);
  });

  it('maxCost: page sizes multiply, literal or variable, before anything runs; smaller pages pass', async () => {
    const two = 'query($n: Int) { tasks(first: $n) { edges { cursor } } schedules(first: $n) { edges { cursor } } }';
    accepted(await run(two, { n: 75 }, costServer));
    for (const over of [await run(two, { n: 100 }, costServer), await run(two.replace('query($n: Int) ', '').replace(/\$n/g, '100'), undefined, costServer)]) {
      expect(over.errors.map(extensionsOf)).toEqual([{ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'maxCost', max: 150, cost: 200 }]);
      expect(over.errors[0]?.message).toContain('page sizes multiply');
      if (name === 'HTTP') expect(over.status).toBe(400);
    }
    // No size: the field's default (20 for tasks and schedules), so nested pages without one count so.
    expect((await run('{ schedules(first: 10) { edges { node { runs { totalCount } } } } }', undefined, costServer)).errors.map((e) => e.extensions?.cost)).toEqual([210]);
  });

  it("keeps graphql-js's bound on circular introspection, which depth and cost do not count", async () => {
    accepted(await run('{ __schema { types { fields { type { fields { name } } } } } }'));
    const circular = await run('{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }');
    expect(circular.errors.map(extensionsOf)).toEqual([{ code: 'GRAPHQL_VALIDATION_FAILED' }]);
    if (name === 'HTTP') expect(circular.status).toBe(400);
  });
});

describe('limits', () => {
  it('a request over several limits gets one error per limit', async () => {
    const res = await overHttp('{ a: tasks { edges { node { id } } } b: __typename c: __typename }');
    expect(res.errors.map((e) => e.extensions?.limit).sort()).toEqual(['maxAliases', 'maxDepth']);
    expect(res.errors.map(code)).toEqual(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_VALIDATION_FAILED']);
  });

  it('default to the bounds of the hand-written rule they replace', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxDepth: 10, maxFields: 1000, maxAliases: 30, maxTokens: 5000, maxCost: 10_000 });
  });
});
