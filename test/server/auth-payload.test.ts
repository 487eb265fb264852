import { afterAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, signTestJwt } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';

// A task's payload (args, kwargs, returnValue, errors, progress, events) in a mutation's answer, on a
// server with auth on (src/graphql/payload-access.ts): FORBIDDEN without tasks:read but to the
// principal that enqueued it (test/graphql/guard.test.ts has the refusals).
const env = useTestServer({ env: AUTH_ENV });
let t: AuthTransports | undefined;
afterAll(async () => {
  await t?.closeAll();
});

describe("a task's payload in a mutation's answer", () => {
  it('is readable by the principal that enqueued the task, not by another without tasks:read, and by any with it', async () => {
    t = createAuthTransports(env.server.url);
    const mine = await signTestJwt({ sub: 'payload-enqueuer', scope: 'tasks:enqueue tasks:cancel tasks:retry' });
    const made = await t.post('mutation { enqueueTask(input: { name: "demo.echo", args: ["mine"], runAfter: "2099-01-01T00:00:00Z" }) { task { id args } } }', {}, bearer(mine));
    expect(made.errors).toBeUndefined();
    const id = (made.data?.enqueueTask as { task: { id: string; args: unknown } }).task.id;
    expect((made.data?.enqueueTask as { task: { args: unknown } }).task.args).toEqual(['mine']);

    const cancelled = await t.post('mutation ($id: ID!) { cancelTask(id: $id) { status args errors { message } } }', { id }, bearer(mine));
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTask).toEqual({ status: 'CANCELLED', args: ['mine'], errors: [] });

    const other = await signTestJwt({ sub: 'payload-other', scope: 'tasks:retry' });
    const refused = await t.post('mutation ($id: ID!) { retryTask(id: $id) { status args } }', { id }, bearer(other));
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['FORBIDDEN', 'args']]);

    const reader = await signTestJwt({ sub: 'payload-reader', scope: 'tasks:read tasks:cancel' });
    const read = await t.post('mutation ($id: ID!) { cancelTask(id: $id) { status args } }', { id }, bearer(reader));
    expect(read.errors).toBeUndefined();
    expect(read.data?.cancelTask).toEqual({ status: 'CANCELLED', args: ['mine'] });
  });
});
