import { afterAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, signTestJwt } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports, type AuthTransports } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';

// Limits are per principal (docs/auth.md#limits), and a principal is its kind, id and tenant: two
// JWTs with one `sub` in two tenants are two principals, each with its own enqueue budget and
// subscription cap; two JWTs with one `sub` in one tenant are one principal and share them.
const ENQUEUE = 'mutation($name: String!) { enqueueTask(input: { name: $name, args: ["limits"] }) { task { id tenant } } }';
const WATCH = 'subscription($id: ID!) { taskStatusChanged(id: $id) { id status } }';

const env = useTestServer({ env: { ...AUTH_ENV, ENQUEUE_RATE_PER_S: '1', MAX_SUBSCRIPTIONS_PER_PRINCIPAL: '2' } });
const made: AuthTransports[] = [];
afterAll(async () => {
  await Promise.all(made.map((t) => t.closeAll()));
});
const transports = (): AuthTransports => {
  const t = createAuthTransports(env.server.url);
  made.push(t);
  return t;
};

async function enqueue(t: AuthTransports, credential: string): Promise<string> {
  const res = await t.post(ENQUEUE, { name: 'demo.echo' }, bearer(credential));
  if (res.errors) return String(res.errors[0]?.extensions?.code);
  return (res.data?.enqueueTask as { task: { id: string } }).task.id;
}

describe('per-principal limits of JWTs with one sub', () => {
  // That two tokens of one sub and tenant share a budget is test/auth/rate-limit.test.ts's (its
  // clock stands still; here a second's refill under a loaded machine would blur it).
  it('give each tenant its own enqueue budget', async () => {
    const t = transports();
    const acme = await signTestJwt({ sub: 'same-sub-enqueue', tenant: 'acme' });
    const globex = await signTestJwt({ sub: 'same-sub-enqueue', tenant: 'globex' });
    // ENQUEUE_RATE_PER_S=1: bursts of 2, then a token a second; globex asks right after acme's
    // refusal, well before acme's bucket holds a token again.
    const outcomes: string[] = [];
    while (!outcomes.includes('RATE_LIMITED') && outcomes.length < 5) outcomes.push(await enqueue(t, acme));
    expect(outcomes.at(-1)).toBe('RATE_LIMITED');
    expect(await enqueue(t, globex)).not.toBe('RATE_LIMITED');
  });

  it('take nothing for a batch or workflow refused before it stored anything (a mistyped batch locked its key out for minutes)', async () => {
    const t = transports();
    const jwt = await signTestJwt({ sub: 'refused-batch', tenant: 'acme' });
    // ENQUEUE_RATE_PER_S=1: 100 inputs pass on the full bucket and would leave it 98 in debt.
    const inputs = Array.from({ length: 100 }, (_, i) => ({ name: i === 99 ? 'no.such.task' : 'demo.echo', args: [i] }));
    const batch = await t.post('mutation($inputs: [EnqueueTaskInput!]!) { enqueueTasks(inputs: $inputs) { tasks { id } } }', { inputs }, bearer(jwt));
    expect(errorCodes(batch.errors)).toEqual(['UNKNOWN_TASK']);
    const steps = Array.from({ length: 50 }, (_, i) => ({ ref: `s${i}`, task: { name: 'demo.echo' }, ...(i === 49 ? { dependsOn: ['nope'] } : {}) }));
    const workflow = await t.post('mutation($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { id } } }', { input: { steps } }, bearer(jwt));
    expect(errorCodes(workflow.errors)).toEqual(['BAD_USER_INPUT']);
    // Its budget is whole: two enqueues pass (a burst of 2), the third is over it.
    expect([await enqueue(t, jwt), await enqueue(t, jwt)]).not.toContain('RATE_LIMITED');
  });

  it('give each tenant its own subscription cap, over graphql-ws and SSE; one tenant shares one', async () => {
    const t = transports();
    const acme = await signTestJwt({ sub: 'same-sub-watch', tenant: 'acme' });
    const globex = await signTestJwt({ sub: 'same-sub-watch', tenant: 'globex' });
    const acmeTask = await enqueue(transports(), await signTestJwt({ sub: 'enqueuer', tenant: 'acme' }));
    const globexTask = await enqueue(transports(), await signTestJwt({ sub: 'enqueuer', tenant: 'globex' }));
    // MAX_SUBSCRIPTIONS_PER_PRINCIPAL=2: acme's two, one per transport.
    const acmeWs = t.ws({ authorization: `Bearer ${acme}` }).subscribe(WATCH, { id: acmeTask });
    const acmeSse = await t.sse(WATCH, { id: acmeTask }, bearer(acme));
    await expect.poll(() => acmeWs.results.length + acmeSse.results.length).toBe(2);

    // globex, same sub: its first subscriptions are served, on both transports.
    const globexWs = t.ws({ authorization: `Bearer ${globex}` }).subscribe(WATCH, { id: globexTask });
    await expect.poll(() => globexWs.results.length).toBe(1);
    expect(globexWs.errors).toEqual([]);
    const globexSse = await t.sse(WATCH, { id: globexTask }, bearer(globex));
    await expect.poll(() => globexSse.results.length).toBe(1);
    expect(globexSse.results[0]).toMatchObject({ data: { taskStatusChanged: { id: globexTask } } });

    // acme's third, even with another token of the same sub and tenant, is over the cap.
    const third = t.ws({ authorization: `Bearer ${await signTestJwt({ sub: 'same-sub-watch', tenant: 'acme', expiresIn: 900 })}` }).subscribe(WATCH, { id: acmeTask });
    await third.ended;
    expect(errorCodes(third.errors)).toEqual(['RATE_LIMITED']);
    const thirdSse = await t.sse(WATCH, { id: acmeTask }, bearer(acme));
    await thirdSse.ended;
    expect(errorCodes(thirdSse.results.flatMap((r) => r.errors ?? []))).toEqual(['RATE_LIMITED']);
    for (const s of [acmeWs, globexWs]) s.unsubscribe();
    for (const s of [acmeSse, globexSse]) s.abort();
  });

  it('hold at most MAX_SUBSCRIPTIONS_PER_PRINCIPAL graphql-ws sockets, refusing one more with 4429 until one closes', async () => {
    // A security tester held 3,000 idle sockets from one key (~18 KB each); only subscriptions were capped.
    const t = transports();
    const jwt = await signTestJwt({ sub: 'socket-cap', tenant: 'acme' });
    // An enqueuer of its own: the budget of 'enqueuer' (1/s) is the other tests'.
    const task = await enqueue(transports(), await signTestJwt({ sub: 'socket-cap-enqueuer', tenant: 'acme' }));
    const first = t.ws({ authorization: `Bearer ${jwt}` });
    const second = t.ws({ authorization: `Bearer ${jwt}` });
    const watched = first.subscribe(WATCH, { id: task });
    await expect.poll(() => watched.results.length).toBe(1);
    // The second socket connected (an operation over it is answered), though it holds no subscription.
    const viewer = second.subscribe('subscription($id: ID!) { taskStatusChanged(id: $id) { id } }', { id: task });
    await expect.poll(() => viewer.results.length).toBe(1);
    viewer.unsubscribe();
    const third = t.ws({ authorization: `Bearer ${jwt}` });
    expect(await third.closed).toMatchObject({ code: 4429, reason: expect.stringContaining('Too many open connections') });
    // One closes: a new one connects.
    await second.client.dispose();
    await second.closed;
    const fourth = t.ws({ authorization: `Bearer ${jwt}` }).subscribe(WATCH, { id: task });
    await expect.poll(() => fourth.results.length).toBe(1);
    expect(fourth.errors).toEqual([]);
    watched.unsubscribe();
    fourth.unsubscribe();
  });

  it('gives back the slot of an SSE subscription whose client left before its answer began', async () => {
    // @whatwg-node's adapter does not cancel the body of an answer whose connection closed first:
    // such a subscription stayed open for good, holding a slot of the cap (2 here) until none was left.
    const leaver = await signTestJwt({ sub: 'early-leaver', tenant: 'acme' });
    const task = await enqueue(transports(), await signTestJwt({ sub: 'enqueuer', tenant: 'acme' }));
    const body = JSON.stringify({ query: WATCH, variables: { id: task } });
    const leave = async (afterMs: number): Promise<void> => {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), afterMs);
      try {
        const res = await fetch(`${env.server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${leaver}` },
          body,
          signal: ac.signal,
        });
        const reader = res.body!.getReader();
        while (!(await reader.read()).done);
      } catch {
        // aborted: the point
      } finally {
        clearTimeout(timer);
      }
    };
    for (let round = 0; round < 6; round++) await Promise.all(Array.from({ length: 10 }, (_, i) => leave(i % 5)));
    // Every slot comes back: two subscriptions of the same principal are served again.
    const t = transports();
    await expect
      .poll(async () => {
        const probe = await t.sse(WATCH, { id: task }, bearer(leaver));
        await expect.poll(() => probe.results.length).toBeGreaterThan(0);
        const codes = errorCodes(probe.results.flatMap((r) => r.errors ?? []));
        probe.abort();
        return codes;
      }, { timeout: 10_000 })
      .toEqual([]);
    const a = t.ws({ authorization: `Bearer ${leaver}` }).subscribe(WATCH, { id: task });
    const b = await t.sse(WATCH, { id: task }, bearer(leaver));
    await expect.poll(() => a.results.length + b.results.length).toBe(2);
    expect([...a.errors, ...b.results.flatMap((r) => r.errors ?? [])]).toEqual([]);
    a.unsubscribe();
    b.abort();
  });
});
