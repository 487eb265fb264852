import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  ForbiddenError,
  PayloadForbiddenError,
  RateLimitedError,
  RequestError,
  UnauthenticatedError,
  type ClientOptions,
  type Task,
  type TaskEvent,
  type TaskwireClient,
} from '../../src/client/index.js';
import { waitForStatus } from '../helpers/factories.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { drain } from '../helpers/drain.js';

/**
 * The typed client against a server with AUTH_MODE=on and HS256 JWTs: getToken() over HTTP and
 * graphql-ws, typed auth errors, and a JWT that expires during a watch (close 4403, a fresh
 * token, resume by version).
 */

const SECRET = 'client-auth-test-secret-of-at-least-32-characters';
const TENANT = 'acme';
const RETRY = { attempts: 10, baseMs: 100, maxMs: 1000 };

let server: TestServer;
let gates: Gates;
const clients: TaskwireClient[] = [];

/** An HS256 JWT of TENANT for `sub`, valid for `seconds`. */
async function mint(sub: string, seconds: number, scope = 'tasks:read tasks:enqueue'): Promise<string> {
  return new SignJWT({ tenant: TENANT, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

function client(options: Partial<ClientOptions> = {}): TaskwireClient {
  const made = createClient({ url: server.url, retry: RETRY, ...options });
  clients.push(made);
  return made;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({
    tasks: gates.tasks,
    runner: {},
    // One enqueue a second per principal, a burst of two: each test enqueues as its own subject.
    env: { AUTH_MODE: 'on', JWT_SECRET: SECRET, ENQUEUE_RATE_PER_S: '1' },
  });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
});

describe('getToken', () => {
  it('sends the token on HTTP (Authorization) and in graphql-ws connectionParams', async () => {
    const token = await mint('both-ways', 600);
    let asked = 0;
    const c = client({
      getToken: () => {
        asked += 1;
        return token;
      },
    });
    const task = await c.enqueue('math.copysign', [2, -1]);
    expect(asked).toBe(1);
    const events = drain<TaskEvent>(c.events(task.id));
    await events.done;
    expect(events.seen.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
    // One more for the socket's connection_init (and none per subscribe).
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(await c.get(task.id)).toMatchObject({ status: 'SUCCEEDED', returnValue: -2 });
  });

  it('takes a static Authorization header for both transports when there is no getToken', async () => {
    const c = client({ headers: { Authorization: `Bearer ${await mint('static-header', 600)}` } });
    const task = await c.enqueue('math.copysign', [3, -1]);
    expect(await c.wait(task.id)).toBe(-3);
  });

  it('refuses a client without a credential with UnauthenticatedError, on both transports, storing nothing', async () => {
    const before = await server.countTasks();
    const c = client();
    const enqueued = c.enqueue('math.copysign', [1, 1]);
    await expect(enqueued).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(enqueued).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await server.countTasks()).toBe(before);
  });

  it('turns a missing scope into ForbiddenError and the enqueue rate into RateLimitedError with retryAfterMs', async () => {
    const reader = client({ getToken: () => mint('reader', 600, 'tasks:read') });
    await expect(reader.enqueue('math.copysign', [1, 1])).rejects.toBeInstanceOf(ForbiddenError);

    const bursty = client({ getToken: () => mint('bursty', 600) });
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((n) => bursty.enqueue('math.copysign', [n, 1])));
    const limited = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as unknown);
    expect(limited.length).toBeGreaterThan(0);
    for (const error of limited) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).code).toBe('RATE_LIMITED');
      expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
    }
  });
});

describe('a JWT that expires during watch() and events()', () => {
  it('is closed with 4403; the client asks getToken again, reconnects and resumes: every version once', async () => {
    const admin = client({ getToken: () => mint('admin-of-acme', 600) });
    const task = await admin.enqueue('test.steps', ['expiry', 2]);
    await waitForStatus(server.deps, task.id, 'RUNNING');

    // The watcher's token source: a short-lived JWT, then fresh ones once it has expired.
    const shortLived = await mint('watcher', 3);
    const expiresAt = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()).exp * 1000;
    let fresh = 0;
    const getToken = async (): Promise<string> => {
      if (Date.now() < expiresAt) return shortLived;
      fresh += 1;
      return mint('watcher', 600);
    };
    // Records how the server closed each socket; the task moves on while the watcher is away.
    const closes: number[] = [];
    class RecordingWebSocket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols);
        this.on('close', (code) => {
          closes.push(code);
          if (code === 4403) gates.open('expiry:1');
        });
      }
    }
    const watcher = client({ getToken, webSocketImpl: RecordingWebSocket });
    const stats = server.app.logStats;
    const deliveredBefore = stats.delivered;
    const states = drain<Task>(watcher.watch(task.id));
    const events = drain<TaskEvent>(watcher.events(task.id));
    await waitFor(() => stats.subscriptions === 2 && events.seen.some((e) => e.type === 'STARTED'), { message: 'both streams live' });

    await waitFor(() => closes.includes(4403), { timeoutMs: 20_000, message: 'the server to end the expired socket with 4403' });
    await waitFor(() => fresh > 0 && stats.subscriptions === 2, { timeoutMs: 10_000, message: 'a fresh token and both streams renewed' });
    await waitFor(() => events.seen.some((e) => e.type === 'PROGRESS'), { message: 'the progress made while the socket was closed' });
    gates.open('expiry:2');
    gates.open('expiry:done');
    await Promise.all([states.done, events.done]);

    expect(events.seen.map((e) => [e.version, e.type])).toEqual([
      [1, 'ENQUEUED'],
      [2, 'STARTED'],
      [3, 'PROGRESS'],
      [4, 'PROGRESS'],
      [5, 'SUCCEEDED'],
    ]);
    const first = states.seen[0]!.version;
    expect(states.seen.map((s) => s.version)).toEqual(range(first, 5));
    expect(states.seen.at(-1)).toMatchObject({ status: 'SUCCEEDED', returnValue: { steps: 2 } });
    // The renewed subscriptions asked for what follows the last version taken: nothing sent twice.
    expect(stats.delivered - deliveredBefore).toBe(5 + (5 - first));
  });
});

describe('a credential that may act on a task but not read it', () => {
  const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();
  const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

  // tasks:cancel and tasks:retry without tasks:read, on tasks another subject of the tenant enqueued.
  const actor = (): TaskwireClient => client({ getToken: () => mint('payload-actor', 600, 'tasks:cancel tasks:retry') });

  it('cancel, retry and runNow: the payload asked is PayloadForbiddenError after the work; { payload: false } answers the state', async () => {
    const owner = client({ getToken: () => mint('payload-owner', 600) });
    const owner2 = client({ getToken: () => mint('payload-owner-2', 600) });
    const [a, b] = await Promise.all([owner.enqueue('math.copysign', [1, -1], { runAfter: inAnHour() }), owner.enqueue('math.copysign', [2, -1], { runAfter: inAnHour() })]);
    const [c, d] = await Promise.all([owner2.enqueue('math.copysign', [3, -1], { runAfter: inAnHour() }), owner2.enqueue('math.copysign', [4, -1], { runAfter: inAnHour() })]);
    const act = actor();

    // With the payload: the mutation was carried out, and the error says so (not a plain FORBIDDEN to retry).
    const cancelled = await rejectionOf(act.cancel(a.id));
    expect(cancelled).toBeInstanceOf(PayloadForbiddenError);
    expect(cancelled).toMatchObject({ code: 'FORBIDDEN', mutation: 'cancelTask', details: { requiredScope: 'tasks:read' } });
    expect((cancelled as Error).message).toMatch(/^cancelTask was carried out, .*cancel\(id, \{ payload: false \}\)/);
    expect(await owner.get(a.id)).toMatchObject({ status: 'CANCELLED' });

    // The state alone: no payload field asked, none refused.
    const retried = await act.retry(a.id, { payload: false });
    expect(retried).toMatchObject({ id: a.id, status: 'PENDING', attempts: 0 });
    expect(Object.keys(retried)).not.toContain('args');
    expect(retried.version).toBeGreaterThan(a.version);

    const due = await act.runNow(b.id, { payload: false });
    expect(due).toMatchObject({ id: b.id, status: 'PENDING' });
    expect(Date.parse(due.runAfter ?? '')).toBeLessThanOrEqual(Date.now());
    expect(await owner.wait(b.id)).toBe(-2);

    const stopped = await act.cancel(c.id, { payload: false });
    expect(stopped).toMatchObject({ id: c.id, status: 'CANCELLED', isFinished: true });
    // An error of the mutation itself stays what it was.
    const conflict = await rejectionOf(act.runNow(c.id));
    expect(conflict).toBeInstanceOf(RequestError);
    expect(conflict).not.toBeInstanceOf(PayloadForbiddenError);
    expect(conflict).toMatchObject({ code: 'CONFLICT' });

    const ran = await rejectionOf(act.runNow(d.id));
    expect(ran).toMatchObject({ code: 'FORBIDDEN', mutation: 'runTaskNow' });
    expect(await owner2.wait(d.id)).toBe(-4);
    const again = await rejectionOf(act.retry(c.id));
    expect(again).toMatchObject({ code: 'FORBIDDEN', mutation: 'retryTask' });
    expect(await owner2.wait(c.id)).toBe(-3);
  });

  it('cancelWorkflow: the same, with every step a TaskState', async () => {
    // A step counts against the enqueue rate (bursts of 2): one workflow of 2 steps per subject.
    const [owner, owner2] = ['payload-workflow-owner', 'payload-workflow-owner-2'].map((sub) => client({ getToken: () => mint(sub, 600) })) as [TaskwireClient, TaskwireClient];
    const steps = [
      { ref: 'first', task: { name: 'math.copysign', args: [1, 1], runAfter: inAnHour() } },
      { ref: 'second', task: { name: 'math.copysign', args: [2, 1] }, dependsOn: ['first'] },
    ];
    const [w1, w2] = await Promise.all([owner.enqueueWorkflow({ steps }), owner2.enqueueWorkflow({ steps })]);
    const act = actor();

    const refused = await rejectionOf(act.cancelWorkflow(w1.id));
    expect(refused).toBeInstanceOf(PayloadForbiddenError);
    expect(refused).toMatchObject({ mutation: 'cancelWorkflow' });
    expect(await owner.workflow(w1.id)).toMatchObject({ status: 'CANCELLED' });

    const state = await act.cancelWorkflow(w2.id, { payload: false });
    expect(state.status).toBe('CANCELLED');
    expect(state.steps.map((s) => [s.ref, s.task.status])).toEqual([
      ['first', 'CANCELLED'],
      ['second', 'CANCELLED'],
    ]);
    for (const step of state.steps) expect(Object.keys(step.task)).not.toContain('returnValue');
  });
});

describe('a token the server keeps refusing', () => {
  // Last in the file: these refusals count against the failed-auth throttle of 127.0.0.1.
  it('ends the stream with UnauthenticatedError after a few backed-off attempts, not a hot loop', async () => {
    const admin = client({ getToken: () => mint('admin-of-acme-2', 600) });
    const task = await admin.enqueue('math.copysign', [1, 1]);
    const asked: number[] = [];
    const refused = client({
      getToken: () => {
        asked.push(Date.now());
        return 'tw_00000000000000000000000000_notasecret';
      },
    });
    const events = drain<TaskEvent>(refused.events(task.id));
    await expect(events.done).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(events.seen).toEqual([]);
    expect(asked.length).toBe(3);
    // graphql-ws's backoff (RETRY: 100 ms doubling, jittered ±50 %) spaced the attempts.
    for (let i = 1; i < asked.length; i++) expect(asked[i]! - asked[i - 1]!).toBeGreaterThanOrEqual(RETRY.baseMs / 2);
  });
});
