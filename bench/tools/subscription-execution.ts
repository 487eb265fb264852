/**
 * `npx tsx bench/tools/subscription-execution.ts [events=200000]`: what executing one subscription
 * event costs (issue 11, (i)'s feed lag): the server executes each event once per distinct
 * operation (src/server/live/shared-results.ts), with graphql-js's `execute` or the operation
 * compiled by graphql-jit. Runs the selections of (i)'s followers and of a watch with a nested
 * task over the same synthetic events, both ways, three rounds; µs per event and whether the two
 * results are the same JSON. No database: the nested `task` is loaded from memory.
 */
import { createRequire } from 'node:module';
import type { ExecutionResult } from 'graphql';
import { schema } from '../../src/graphql/schema.js';
import { range } from '../lib/wait.js';

// The schema's own graphql instance (CommonJS, see shared-results.ts).
const require = createRequire(import.meta.url);
const { parse, execute } = require('graphql') as typeof import('graphql');
const { compileQuery, isCompiledQuery } = require('graphql-jit') as typeof import('graphql-jit');

const EVENTS = Number(process.argv[2] ?? 200_000);
const DOCUMENTS = {
  '(i) taskEventFeed': [`subscription F($after: String) { taskEventFeed(after: $after) { taskId version at cursor } }`, { after: 'x' }],
  '(i) taskEvents': [`subscription E($id: ID!, $afterVersion: Int) { taskEvents(id: $id, afterVersion: $afterVersion) { taskId version status at } }`, { id: 'x', afterVersion: 0 }],
  'taskEventFeed with its task': [`subscription T { taskEventFeed { type status attempt task { id name status } } }`, {}],
} as const;

const now = new Date();
const events = range(0, EVENTS).map((i) => ({
  taskId: `0190f0e0-0000-7000-8000-${String(i).padStart(12, '0')}`,
  version: 2,
  type: 'STARTED',
  status: 'RUNNING',
  at: now,
  attempt: 1,
  worker: 'bench',
  position: { tx: '123456', seq: i },
  task: { name: 'bench.noop', queue: 'default', tenant: 'default', enqueuedAt: now },
}));
const task = { id: 'x', name: 'bench.noop', status: 'RUNNING', tenant: 'default' };
const context = { resultScope: '', events: { loadTask: () => Promise.resolve(task) } };

async function timed(run: (event: object) => unknown): Promise<{ us: number; last: unknown }> {
  const start = process.hrtime.bigint();
  let last: unknown;
  for (const event of events) {
    last = run(event);
    if (last instanceof Promise) last = await last;
  }
  return { us: Number(process.hrtime.bigint() - start) / EVENTS / 1000, last };
}

for (const [label, [text, variableValues]] of Object.entries(DOCUMENTS)) {
  const document = parse(text);
  const compiled = compileQuery(schema, document);
  if (!isCompiledQuery(compiled)) throw new Error(`${label}: ${JSON.stringify(compiled.errors)}`);
  for (let round = 1; round <= 3; round++) {
    const js = await timed((event) => execute({ schema, document, rootValue: event, contextValue: context, variableValues }));
    const jit = await timed((event) => compiled.query(event, context, variableValues));
    const same = JSON.stringify(js.last as ExecutionResult) === JSON.stringify(jit.last as ExecutionResult);
    console.log(`${label}, round ${round}: graphql-js ${js.us.toFixed(2)} µs, compiled ${jit.us.toFixed(2)} µs an event (${(js.us / jit.us).toFixed(1)}×)${same ? '' : '; RESULTS DIFFER'}`);
  }
}
