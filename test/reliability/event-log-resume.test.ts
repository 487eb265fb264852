import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { expectCompleteLogs } from '../helpers/event-log.js';
import { ENQUEUE, freePort, gql, killHard, serverUrl, spawnCli } from '../helpers/reliability-processes.js';
import type { TaskwireProcess } from '../helpers/taskwire-process.js';
import { waitFor } from '../helpers/wait.js';

// A server SIGKILLed mid-stream: clients resume taskEvents on another server process with the
// last version they saw, and see every version once, none missing, none twice.
const TASKS = 20;
const EVENTS = `subscription ($id: ID!, $after: Int) {
  taskEvents(id: $id, afterVersion: $after) { taskId version type status output }
}`;
interface Seen {
  taskEvents: { taskId: string; version: number; type: string; status: string; output: unknown };
}

let database: TestDatabase;
const processes: TaskwireProcess[] = [];
const clients: Client[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await Promise.all(processes.map((p) => killHard(p)));
  await database?.drop();
});

function client(url: string): Client {
  const c = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  clients.push(c);
  return c;
}

/** Subscribes; collects every event; `done` settles at completion or when the socket is lost. */
function follow(c: Client, id: string, after: number, into: Seen['taskEvents'][]): Promise<'complete' | 'lost'> {
  return new Promise((resolve) => {
    c.subscribe<Seen>(
      { query: EVENTS, variables: { id, after } },
      {
        next: (r) => {
          if (r.data) into.push(r.data.taskEvents);
        },
        error: () => resolve('lost'),
        complete: () => resolve('complete'),
      },
    );
  });
}

describe('taskEvents across a server SIGKILL', () => {
  it('resumes on another server process from the last version seen: no gap, no repeat', { timeout: 120_000 }, async () => {
    const env = { DATABASE_URL: database.url, WORKER_CONCURRENCY: '20' };
    // Two GraphQL servers and a separate worker, all on one database.
    const a = spawnCli('serve', { ...env, PORT: String(await freePort()) });
    const b = spawnCli('serve', { ...env, PORT: String(await freePort()) });
    processes.push(a, b);
    const [urlA, urlB] = await Promise.all([serverUrl(a), serverUrl(b)]);
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const res = await gql<{ enqueueTask: { task: { id: string } } }>(urlA, ENQUEUE, { input: { name: 'demo.output', args: [60, 25] } });
      ids.push(res.data!.enqueueTask.task.id);
    }
    const seen = new Map(ids.map((id) => [id, [] as Seen['taskEvents'][]]));
    const onA = client(urlA);
    const firstRound = ids.map((id) => follow(onA, id, 0, seen.get(id)!));
    const worker = spawnCli('worker', env);
    processes.push(worker);
    // Mid-stream: every task has written some output, none has finished.
    await waitFor(() => [...seen.values()].every((events) => events.some((e) => e.type === 'OUTPUT')), {
      timeoutMs: 60_000,
      message: 'every task to stream some output through server A',
    });
    await killHard(a);
    const ended = await Promise.all(firstRound);
    expect(ended.filter((e) => e === 'lost').length).toBeGreaterThan(0);

    const onB = client(urlB);
    await Promise.all(
      ids.map((id, i) => (ended[i] === 'complete' ? 'complete' : follow(onB, id, seen.get(id)!.at(-1)?.version ?? 0, seen.get(id)!))),
    );
    for (const [id, events] of seen) {
      const versions = events.map((e) => e.version);
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
      expect(events.filter((e) => e.type === 'OUTPUT')).toHaveLength(60);
      expect(events.at(-1)).toMatchObject({ taskId: id, type: 'SUCCEEDED', status: 'SUCCEEDED' });
    }
    await expectCompleteLogs(database.db.sql);
    expect(await worker.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });
});
