import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/queue/uuid.js';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';

// Workflows under AUTH_MODE=on (DESIGN Part 2 §B, §C): another tenant's workflow is exactly an
// unknown one on every field and transport; read tokens never reach a workflow; each step's task
// name needs an enqueue scope.
const env = useTestServer({ env: { ...AUTH_ENV } });
let t: AuthTransports;
const keys = { acme: '', globex: '', admin: '', demoOnly: '' };
let workflowId = '';
let steps: Record<string, string> = {};
const KEY = `same-key-${uuidv7()}`;

const WORKFLOW = 'id name status version steps { ref dependsOn task { id tenant args } }';
const ENQUEUE = `mutation($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { ${WORKFLOW} } } }`;
const DIAMOND = (marker: string) => ({
  name: marker,
  idempotencyKey: KEY,
  steps: [
    { ref: 'a', task: { name: 'demo.echo', args: [marker] } },
    { ref: 'b', task: { name: 'demo.echo', args: [marker] }, dependsOn: ['a'] },
    { ref: 'c', task: { name: 'demo.echo', args: [marker] }, dependsOn: ['a'] },
    { ref: 'd', task: { name: 'demo.echo', args: [marker] }, dependsOn: ['b', 'c'] },
  ],
});
const code = (errors: readonly { extensions?: Record<string, unknown> }[] | undefined): unknown => errors?.[0]?.extensions?.code;

beforeAll(async () => {
  t = createAuthTransports(env.server.url);
  const all = ['tasks:read', 'tasks:enqueue', 'tasks:cancel', 'tasks:retry'];
  keys.acme = (await createTestKey(env.server.sql, 'acme', all)).key;
  keys.globex = (await createTestKey(env.server.sql, 'globex', all)).key;
  keys.admin = (await createTestKey(env.server.sql, 'ops', ['admin'])).key;
  keys.demoOnly = (await createTestKey(env.server.sql, 'acme', ['tasks:read', 'tasks:enqueue:demo.*'])).key;
  const res = await t.post(ENQUEUE, { input: DIAMOND('acme-secret') }, bearer(keys.acme));
  const workflow = (res.data?.enqueueWorkflow as { workflow: { id: string; steps: { ref: string; task: { id: string; tenant: string } }[] } }).workflow;
  workflowId = workflow.id;
  steps = Object.fromEntries(workflow.steps.map((s) => [s.ref, s.task.id]));
  expect(workflow.steps.every((s) => s.task.tenant === 'acme')).toBe(true);
});

afterAll(async () => {
  await t?.closeAll();
});

/** The answer text with `id` replaced, to compare a foreign id's answer with an unknown one's. */
const masked = (text: string, id: string): string => text.replaceAll(id, '<id>');

describe("another tenant's workflow", () => {
  it.each([
    ['workflow', 'query($id: ID!) { workflow(id: $id) { id name } }'],
    ['node', 'query($id: ID!) { node(id: $id) { id ... on Workflow { name } } }'],
    ['cancelWorkflow', 'mutation($id: ID!) { cancelWorkflow(id: $id) { id status } }'],
  ])('%s answers exactly as for an unknown id', async (_field, query) => {
    const unknown = uuidv7();
    const foreign = await t.post(query, { id: workflowId }, bearer(keys.globex));
    const none = await t.post(query, { id: unknown }, bearer(keys.globex));
    expect(masked(foreign.text, workflowId)).toBe(masked(none.text, unknown));
    expect(foreign.text).not.toContain('acme-secret');
    const own = await t.post('query($id: ID!) { workflow(id: $id) { status } }', { id: workflowId }, bearer(keys.acme));
    expect(own.data?.workflow).toEqual({ status: 'RUNNING' });
  });

  it('workflowChanged answers NOT_FOUND over graphql-ws and SSE, as for an unknown id', async () => {
    const ws = t.ws({ authorization: `Bearer ${keys.globex}` });
    const sub = ws.subscribe(`subscription($id: ID!) { workflowChanged(id: $id) { ${WORKFLOW} } }`, { id: workflowId });
    await sub.ended;
    expect(sub.results.filter((r) => r.data)).toEqual([]);
    expect([...sub.errors, ...sub.results.flatMap((r) => r.errors ?? [])].map((e) => e.extensions?.code)).toContain('NOT_FOUND');
    const sse = await t.sse(`subscription($id: ID!) { workflowChanged(id: $id) { ${WORKFLOW} } }`, { id: workflowId }, bearer(keys.globex));
    await sse.ended;
    expect(JSON.stringify(sse.results)).not.toContain('acme-secret');
    expect(sse.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    // The owner's subscription works.
    const mine = t.ws({ authorization: `Bearer ${keys.acme}` }).subscribe(`subscription($id: ID!) { workflowChanged(id: $id) { id status } }`, { id: workflowId });
    await expect.poll(() => mine.results.length).toBeGreaterThan(0);
    expect(mine.results[0]?.data).toEqual({ workflowChanged: { id: workflowId, status: 'RUNNING' } });
    mine.unsubscribe();
  });

  it("tasks(filter: {workflowId}) lists none of its steps, and its steps' tasks are unknown", async () => {
    const list = await t.post('query($f: TaskFilter) { tasks(first: 100, filter: $f) { edges { node { id } } } }', { f: { workflowId } }, bearer(keys.globex));
    const ids = JSON.stringify(list.data);
    for (const id of Object.values(steps)) expect(ids).not.toContain(id);
    const task = await t.post('query($id: ID!) { taskResult(id: $id) { id workflow { id } } }', { id: steps.a }, bearer(keys.globex));
    expect(task.data?.taskResult).toBeNull();
    const own = await t.post('query($f: TaskFilter) { tasks(first: 100, filter: $f) { edges { node { id workflow { id } } } } }', { f: { workflowId } }, bearer(keys.acme));
    const nodes = (own.data?.tasks as { edges: { node: { id: string; workflow: { id: string } | null } }[] }).edges.map((e) => e.node);
    for (const id of Object.values(steps)) expect(nodes).toContainEqual({ id, workflow: { id: workflowId } });
  });

  it('is not cancelled by the other tenant, and its idempotency key is the tenant\'s own', async () => {
    await t.post('mutation($id: ID!) { cancelWorkflow(id: $id) { id } }', { id: workflowId }, bearer(keys.globex));
    const own = await t.post('query($id: ID!) { workflow(id: $id) { status steps { task { status } } } }', { id: workflowId }, bearer(keys.acme));
    expect((own.data?.workflow as { status: string }).status).toBe('RUNNING');
    const theirs = await t.post(ENQUEUE, { input: DIAMOND('globex-own') }, bearer(keys.globex));
    const made = (theirs.data?.enqueueWorkflow as { workflow: { id: string; name: string; steps: { task: { tenant: string } }[] } }).workflow;
    expect(made.id).not.toBe(workflowId);
    expect(made.name).toBe('globex-own');
    expect(made.steps.every((s) => s.task.tenant === 'globex')).toBe(true);
  });

  it('an admin sees it', async () => {
    const res = await t.post('query($id: ID!) { workflow(id: $id) { id name } }', { id: workflowId }, bearer(keys.admin));
    expect(res.data?.workflow).toEqual({ id: workflowId, name: 'acme-secret' });
  });
});

describe('read tokens and enqueue scopes', () => {
  it('a read token reads its task but never its workflow or other steps, and may not use the workflow fields', async () => {
    const issued = await t.post('mutation($ids: [ID!]!) { createReadToken(taskIds: $ids) { token } }', { ids: [steps.b] }, bearer(keys.acme));
    const token = (issued.data?.createReadToken as { token: string }).token;
    const own = await t.post('query($id: ID!) { taskResult(id: $id) { id stepRef workflow { id } dependsOn { id } } }', { id: steps.b }, bearer(token));
    expect(own.data?.taskResult).toEqual({ id: steps.b, stepRef: 'b', workflow: null, dependsOn: [] });
    for (const [query, variables] of [
      ['query($id: ID!) { workflow(id: $id) { id } }', { id: workflowId }],
      ['mutation($id: ID!) { cancelWorkflow(id: $id) { id } }', { id: workflowId }],
      [ENQUEUE, { input: DIAMOND('via-token') }],
    ] as const) {
      expect(code((await t.post(query, variables, bearer(token))).errors)).toBe('FORBIDDEN');
    }
    expect((await t.post('query($id: ID!) { node(id: $id) { id } }', { id: workflowId }, bearer(token))).data?.node).toBeNull();
    const sub = t.ws({ authorization: `Bearer ${token}` }).subscribe('subscription($id: ID!) { workflowChanged(id: $id) { id } }', { id: workflowId });
    await sub.ended;
    expect([...sub.errors, ...sub.results.flatMap((r) => r.errors ?? [])].map((e) => e.extensions?.code)).toContain('FORBIDDEN');
  });

  it('each step\'s task name must match an enqueue scope: FORBIDDEN naming the step, nothing stored', async () => {
    const before = await env.server.countTasks();
    const res = await t.post(
      ENQUEUE,
      { input: { steps: [{ ref: 'ok', task: { name: 'demo.echo' } }, { ref: 'math', task: { name: 'math.copysign', args: [1, 2] }, dependsOn: ['ok'] }] } },
      bearer(keys.demoOnly),
    );
    expect(code(res.errors)).toBe('FORBIDDEN');
    expect(res.errors?.[0]?.extensions?.field).toBe('input.steps[1].task.name');
    expect(await env.server.countTasks()).toBe(before);
    const allowed = await t.post(ENQUEUE, { input: { steps: [{ ref: 'ok', task: { name: 'demo.echo' } }, { ref: 'also', task: { name: 'demo.sleep', args: [1] }, dependsOn: ['ok'] }] } }, bearer(keys.demoOnly));
    expect(allowed.errors).toBeUndefined();
  });
});
