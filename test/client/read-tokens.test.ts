import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, ForbiddenError, RequestError, type TaskEvent, type TaskwireClient } from '../../src/client/index.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { createGates, type Gates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

/**
 * Read tokens through the typed client (docs/client.md "Read tokens", docs/auth.md), against a
 * server with AUTH_MODE=on: `enqueue(…, { readToken: true })` and `createReadToken`, and a client
 * that holds only such a token (what a browser gets).
 */

let server: TestServer;
let gates: Gates;
let backend: TaskwireClient;
const clients: TaskwireClient[] = [];

/** A client of this server whose credential is `token`. */
function clientWith(token: string): TaskwireClient {
  const made = createClient({ url: server.url, getToken: () => token, retry: { baseMs: 20, maxMs: 200 } });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  gates = createGates();
  server = await startTestServer({ tasks: gates.tasks, runner: {}, env: { ...AUTH_ENV } });
  const key = await createTestKey(server.sql, 'acme', ['tasks:read', 'tasks:enqueue', 'schedules:write']);
  backend = clientWith(key.key);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
});

/** The payload of a JWT, unverified. */
const claims = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;

describe('enqueue with readToken: true', () => {
  it('resolves with the task and a read token that reads and watches that task, and nothing else', async () => {
    const { task, readToken } = await backend.enqueue('test.gate', ['read-token-1'], { readToken: true });
    expect(task).toMatchObject({ name: 'test.gate', status: 'PENDING', tenant: 'acme' });
    expect(readToken).toEqual(expect.any(String));
    expect(claims(readToken!)).toMatchObject({ typ: 'taskwire-read', tasks: [task.id] });

    const other = await backend.enqueue('math.copysign', [1, -1]);
    const browser = clientWith(readToken!);
    expect((await browser.get(task.id))?.id).toBe(task.id);
    expect(await browser.get(other.id)).toBeNull();
    await expect(browser.enqueue('math.copysign', [1, 1])).rejects.toBeInstanceOf(ForbiddenError);

    const events: TaskEvent[] = [];
    const watched = (async () => {
      for await (const event of browser.events(task.id)) {
        events.push(event);
        if (event.type === 'STARTED') gates.open('read-token-1');
      }
    })();
    expect(await browser.wait(task.id, { timeoutMs: 10_000 })).toBe('read-token-1');
    await watched;
    expect(events.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
  });

  it('without the option, resolves with the task alone, as before', async () => {
    const task = await backend.enqueue('math.copysign', [2, -1]);
    expect(task).toMatchObject({ name: 'math.copysign', status: 'PENDING' });
    expect(task).not.toHaveProperty('readToken');
  });
});

describe('createReadToken', () => {
  it('makes a token for the tasks the caller can read, for ttlSeconds', async () => {
    const a = await backend.enqueue('math.copysign', [3, -1]);
    const b = await backend.enqueue('math.copysign', [4, -1]);
    const before = Date.now();
    const { token, expiresAt } = await backend.createReadToken([a.id, b.id], { ttlSeconds: 120 });
    expect(Date.parse(expiresAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 120_000);
    expect(Date.parse(expiresAt)).toBeLessThanOrEqual(Date.now() + 121_000);
    const browser = clientWith(token);
    expect(await browser.wait(a.id, { timeoutMs: 10_000 })).toBe(-3);
    expect(await browser.wait(b.id, { timeoutMs: 10_000 })).toBe(-4);

    const one = await backend.createReadToken(a.id);
    expect(claims(one.token)).toMatchObject({ tasks: [a.id] });
  });

  it('refuses an id the caller cannot see (NOT_FOUND naming it), and a read token making one for another task', async () => {
    const mine = await backend.enqueue('math.copysign', [5, -1]);
    const error = await backend.createReadToken([mine.id, '01900000-0000-7000-8000-000000000000']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', field: 'taskIds[1]' });

    const { token } = await backend.createReadToken(mine.id);
    const other = await backend.enqueue('math.copysign', [6, -1]);
    await expect(clientWith(token).createReadToken(other.id)).rejects.toBeInstanceOf(RequestError);
  });
});

describe('a client holding a read token', () => {
  it('reads a task a schedule enqueued: its schedule is null (the server keeps schedules from read tokens), not an error', async () => {
    await backend.upsertSchedule({ key: 'read-token-schedule', cron: '0 3 * * *', task: { name: 'math.copysign', args: [7, -1] } });
    const fired = await backend.triggerSchedule('read-token-schedule');
    expect(fired.schedule).toMatchObject({ key: 'read-token-schedule' });
    const browser = clientWith((await backend.createReadToken(fired.id)).token);
    expect(await browser.get(fired.id)).toMatchObject({ id: fired.id, schedule: null, workflow: null });
    expect(await browser.wait(fired.id, { timeoutMs: 10_000 })).toBe(-7);
    const watched = [];
    for await (const state of browser.watch(fired.id)) watched.push(state);
    expect(watched).toMatchObject([{ status: 'SUCCEEDED', returnValue: -7, schedule: null }]);
    // Only a task's reference is taken as null: the schedule itself stays refused.
    await expect(browser.schedule('read-token-schedule')).rejects.toBeInstanceOf(ForbiddenError);
  });
});
