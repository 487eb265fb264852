import { readFileSync } from 'node:fs';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, operationCost } from '../../src/graphql/limits.js';

// What operationCost counts (src/graphql/limits.ts): the shapes a client needs stay well under the
// default bound, the ones that stalled a server (the security persona's) are far over it.
const cost = (query: string, variables: Record<string, unknown> = {}): number => operationCost(parse(query), undefined, variables);
const HEAVY_TASK = 'id name status args kwargs returnValue errors { message }';

describe('operationCost', () => {
  it('multiplies page sizes along their nesting, literal or variable, the default where none is given', () => {
    expect(cost('{ tasks(first: 10) { edges { cursor } } }')).toBe(10);
    expect(cost('query($n: Int) { tasks(first: $n) { edges { cursor } } }', { n: 7 })).toBe(7);
    expect(cost('{ tasks { totalCount } }')).toBe(20);
    expect(cost('{ schedules(first: 100) { edges { node { runs { totalCount } } } } }')).toBe(100 + 100 * 20);
    expect(cost('{ tasks(last: 3) { totalCount } }')).toBe(3);
    // Over the resolvers' bound it counts the bound: the resolver refuses it, naming the argument.
    expect(cost('{ tasks(first: 100000) { totalCount } }')).toBe(100);
    expect(cost('{ tasks(first: 10) { edges { node { events(first: 20) { edges { cursor } } } } } }')).toBe(10 + 200);
    expect(cost('{ tasks(first: 10) { edges { node { events(last: 30) { edges { cursor } } } } } }')).toBe(10 + 300);
    expect(cost('{ a: tasks(first: 10) { totalCount } b: tasks(first: 10) { totalCount } }')).toBe(20);
    expect(cost('{ ...F ...F } fragment F on Query { tasks(first: 4) { totalCount } }')).toBe(8);
  });

  it('counts an object that selects a payload 40 more, and an upcoming occurrence 10', () => {
    expect(cost(`{ tasks(first: 10) { edges { node { ${HEAVY_TASK} } } } }`)).toBe(10 + 10 * 40);
    expect(cost('{ taskResult(id: "x") { args } }')).toBe(40);
    expect(cost('{ schedules(first: 10) { edges { node { upcoming(count: 3) } } } }')).toBe(10 + 10 * 3 * 10);
    expect(cost('{ schedule(key: "k") { upcoming } }')).toBe(50);
  });

  it('refuses what stalled a server: aliased pages of payloads, occurrences of every schedule, events of every task', () => {
    const aliases = (n: number, field: string): string => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
    expect(cost(aliases(12, `tasks(first: 100) { edges { node { args returnValue } } }`))).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 4);
    expect(cost(aliases(10, 'schedules(first: 100) { edges { node { upcoming(count: 100) } } }'))).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 90);
    expect(cost('{ tasks(first: 100) { edges { node { events(first: 1000) { edges { node { output } } } } } } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 10);
    // enqueueTasks answers a task per input, and an input's idempotency key may name a stored task of
    // any size: 1,000 inputs of one key selecting args were 250 MB from a 62 KB request (a tester's find).
    const batch = 'mutation($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id args } } }';
    const inputs = Array.from({ length: 1000 }, () => ({ name: 'demo.echo', idempotencyKey: 'big' }));
    expect(cost(batch, { inputs })).toBe(1000 + 1000 * 40);
    expect(cost('mutation { enqueueTasks(inputs: [{ name: "a" }, { name: "b" }]) { tasks { id } } }')).toBe(2);
    expect(cost('mutation { enqueueTasks(inputs: { name: "a" }) { tasks { id } } }')).toBe(1);
    const aliased = `mutation($inputs: [EnqueueTaskInput!]!) { ${Array.from({ length: 12 }, (_, i) => `a${i}: enqueueTasks(inputs: $inputs) { tasks { id } }`).join(' ')} }`;
    expect(cost(aliased, { inputs })).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
  });

  it("counts a workflow's steps as a page of 100, and refuses steps or parents nested in each other (27 M objects took a server down)", () => {
    expect(cost('{ workflow(id: "w") { steps { ref dependsOn task { id status } } } }')).toBe(100);
    expect(cost(`{ workflow(id: "w") { steps { ref task { ${HEAVY_TASK} } } } }`)).toBe(100 + 100 * 40);
    // A step's parents under the workflow's steps are its edges: counted with the steps, not per step.
    expect(cost('{ workflow(id: "w") { steps { task { dependsOn { id stepRef } } } } }')).toBe(100);
    expect(cost('{ task(id: "t") { dependsOn { id status } } }')).toBe(0);
    // The tester's query (300 steps: 27 M objects), and the same from an enqueue-only key's payload.
    const nested = '{ workflow(id: "w") { steps { task { workflow { steps { task { workflow { steps { ref } } } } } } } } }';
    expect(cost(nested)).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ workflow(id: "w") { steps { task { workflow { steps { ref } } } } } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('mutation($i: EnqueueWorkflowInput!) { enqueueWorkflow(input: $i) { workflow { steps { task { workflow { steps { ref } } } } } } }')).toBeGreaterThan(
      DEFAULT_LIMITS.maxCost,
    );
    // Parents of parents (paths in a graph grow exponentially), a workflow's steps from a task's parents,
    // and through fragments.
    expect(cost('{ task(id: "t") { dependsOn { dependsOn { id } } } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ task(id: "t") { dependsOn { workflow { steps { ref } } } } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ workflow(id: "w") { ...S } } fragment S on Workflow { steps { task { ... on Task { workflow { ...S2 } } } } } fragment S2 on Workflow { steps { ref } }')).toBeGreaterThan(
      DEFAULT_LIMITS.maxCost,
    );
    // A page of tasks each reading its whole workflow: 100 × a workflow's steps.
    expect(cost('{ tasks(first: 100) { edges { node { workflow { steps { ref } } } } } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ tasks(first: 100) { edges { node { workflow { id name } dependsOn { id } } } } }')).toBe(100);
  });

  it('lets one list of every queue through a request, however aliased (30 aliases over 10,000 queues were 123 MB)', () => {
    const queues = '{ queues { name concurrency stats { pending running counts { status count } } } }';
    expect(cost(queues)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost);
    expect(cost(`{ queueStats { queue total } tasks(first: 100) { edges { node { ${HEAVY_TASK} } } } }`)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost);
    expect(cost('{ a: queues { name } b: queues { name } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ queues { name } queueStats { queue } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
    expect(cost('{ ...Q ...Q } fragment Q on Query { queueStats { queue } }')).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
  });

  it("counts a page inside a subscription's payload once per event, nominally 100 (284 MB a subscriber for 188 KB of output)", () => {
    const perEvent = 'subscription($id: ID!) { taskEvents(id: $id) { version task { events(first: 1000) { edges { node { output } } } } } }';
    expect(cost(perEvent, { id: 'x' })).toBe(1000 * 100);
    expect(cost('subscription($id: ID!) { taskEvents(id: $id) { version type output } }', { id: 'x' })).toBe(0);
    expect(cost('subscription { taskStatusChanged { id status args returnValue } }')).toBe(40);
    // Pages nested in that page multiply by it already: the events' factor counts once.
    expect(cost('subscription($id: ID!) { taskEvents(id: $id) { task { events(first: 2) { edges { node { task { events(first: 3) { edges { cursor } } } } } } } } }', { id: 'x' })).toBe(
      200 + 600,
    );
    // The same selection in a query counts one reading.
    expect(cost('query($id: ID!) { taskResult(id: $id) { events(first: 1000) { edges { node { output } } } } }', { id: 'x' })).toBe(1000);
  });

  it('lets every operation of the typed client through at its largest page', () => {
    const files = ['operations', 'schedules', 'bulk-actions', 'queues'].map((f) => readFileSync(new URL(`../../src/client/${f}.graphql`, import.meta.url), 'utf8'));
    const document = parse(files.join('\n'));
    const largest = { first: 100, last: 100, upcoming: 100, runs: 100, inputs: Array.from({ length: 1000 }, () => ({ name: 'demo.echo' })) };
    const costs = document.definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION && d.name ? [[d.name.value, operationCost(document, d.name.value, largest)] as const] : []));
    expect(costs.length).toBeGreaterThan(20);
    for (const [name, n] of costs) expect({ name, fits: n <= DEFAULT_LIMITS.maxCost }).toEqual({ name, fits: true });
  });
});
