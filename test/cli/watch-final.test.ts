import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Task, type TaskEvent } from '../../src/client/index.js';
import type { Context } from '../../src/cli/client-context.js';
import type { Io } from '../../src/cli/output.js';
import { finalState } from '../../src/cli/watch-commands.js';
import { applyEvent } from '../../src/client/task-state.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { CLOSED_URL } from './run-cli.js';

// `status --watch` after the task's last event: the read of its final state, when the server went
// away in between (its process stopping, as npm start's Ctrl-C does). A real client of a port where
// nothing listens (a socket: integration tier).
function fakeIo(): Io & { errText: () => string } {
  let err = '';
  return { out: () => undefined, err: (t) => (err += t), errIsTTY: false, errText: () => err };
}

const base: Task = {
  id: '01900000-0000-7000-8000-000000000000', name: 'demo.sleep', queue: 'default', priority: 0, status: 'RUNNING', isFinished: false,
  version: 2, args: [10], kwargs: {}, returnValue: null, errors: [], attempts: 1, maxAttempts: 1, workerIds: ['w'], progress: null,
  enqueuedAt: '2025-01-01T00:00:00.000Z', runAfter: null, startedAt: null, finishedAt: null, lastAttemptedAt: null, durationMs: null,
  cancelRequested: false, expiresAt: null, idempotencyKey: null, timeoutMs: null, resultTtlMs: null,
  backoff: { baseMs: 1000, maxMs: 600_000, factor: 2, jitter: 0.25 },
  tenant: 'default', createdBy: null, outputBytes: 0, concurrencyKey: null, waitReason: null,
  scheduledFor: null, schedule: null, workflow: null, stepRef: null, dependsOn: [],
};
const event = (version: number, type: TaskEvent['type'], status: TaskEvent['status']): TaskEvent => ({
  taskId: base.id, version, type, status, at: '2025-01-01T00:00:00.000Z', attempt: 1, workerId: 'w-1', progress: null, error: null, output: null, cursor: 'c',
});

describe('finalState (status --watch after the last event)', () => {
  // A real client of a port where nothing listens: the server went away right after the event.
  const gone = createClient({ url: CLOSED_URL, retry: { attempts: 0 } });
  const ctx = (io: Io): Context => ({ io, config: { url: CLOSED_URL, token: undefined }, signal: new AbortController().signal });

  it('takes the ending from the last event when the read fails for want of a server, and says so', async () => {
    const io = fakeIo();
    const final = await finalState(gone, base, applyEvent(base, event(3, 'SUCCEEDED', 'SUCCEEDED')), ctx(io));
    expect(final).toMatchObject({ id: base.id, version: 3, status: 'SUCCEEDED', isFinished: true, attempts: 1 });
    expect(io.errText()).toMatch(/^taskwire: the server went away after the task's last event \(CONNECTION_FAILED\)/);
  });

  it('fails as before when no event came after the state it started from', async () => {
    await expect(finalState(gone, base, base, ctx(fakeIo()))).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    await expect(finalState(gone, base, applyEvent(base, event(2, 'STARTED', 'RUNNING')), ctx(fakeIo()))).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });
});

describe('finalState (status --watch, logs --follow) when the task was deleted right after its end', () => {
  // A task that does not exist: what the final read of one deleted by its retention (resultTtlMs 0,
  // the cleaner at work) answers. Before, the state read before the events stood in: a FAILED task
  // exited 0 as the RUNNING it had been (a tester's find).
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ runner: false });
  });
  afterAll(async () => {
    await server?.close();
  });
  const ctx = (io: Io): Context => ({ io, config: { url: server.url, token: undefined }, signal: new AbortController().signal });

  it('takes the ending from the events, and says so', async () => {
    const client = createClient({ url: server.url });
    try {
      const io = fakeIo();
      const final = await finalState(client, base, applyEvent(base, event(3, 'FAILED', 'FAILED')), ctx(io));
      expect(final).toMatchObject({ id: base.id, version: 3, status: 'FAILED', isFinished: true });
      expect(io.errText()).toMatch(/^taskwire: the task was deleted right after its end \(its resultTtlMs\); its state from the events/);
    } finally {
      await client.close();
    }
  });

  it('is NOT_FOUND when no end was seen before it was deleted', async () => {
    const client = createClient({ url: server.url });
    try {
      await expect(finalState(client, base, applyEvent(base, event(3, 'PROGRESS', 'RUNNING')), ctx(fakeIo()))).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringMatching(/was deleted before its end was seen/),
      });
    } finally {
      await client.close();
    }
  });
});
