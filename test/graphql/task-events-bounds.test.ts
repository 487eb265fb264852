import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskEventFeedCursorDocument, TaskEventFeedDocument, TaskEventLogDocument, TaskEventsDocument, WfEnqueueDocument } from '../generated/graphql.js';
import { onlyError, startTestServer, type TestServer } from '../helpers/graphql.js';
import type { Stream } from '../helpers/subscriptions.js';
import { waitFor } from '../helpers/wait.js';

// The edges of the event log's API: cursors and versions at or past the ends of their ranges, and
// feed filters on every field TaskFilter offers.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ runner: {} });
});
afterAll(async () => {
  await server.close();
});

const cursor = (text: string): string => Buffer.from(text).toString('base64url');

/** The stream's end, or 'still open' after `ms` (then it is unsubscribed): a hang fails the test, not its timeout. */
async function endOf<R>(stream: Stream<R>, ms = 5000): Promise<'complete' | 'error' | 'closed' | 'still open'> {
  const ended = await Promise.race([stream.done, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref())]);
  if (ended === 'still open') stream.unsubscribe();
  return ended;
}

/**
 * Subscribes from each cursor text over graphql-ws and SSE: each must end at once with one
 * BAD_USER_INPUT naming after (message matching `message`), having delivered nothing.
 */
async function expectRefused(texts: readonly string[], message?: RegExp): Promise<void> {
  for (const subscribe of [server.subscribeWs.bind(server), server.subscribeSse.bind(server)]) {
    for (const text of texts) {
      const feed = subscribe(TaskEventFeedDocument, { after: cursor(text) });
      // Without the checks such a feed stayed open, erring nowhere.
      expect(await endOf(feed), text).not.toBe('still open');
      expect(feed.values).toEqual([]);
      expect(feed.errors.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'after']]);
      if (message) expect(feed.errors[0]?.message).toMatch(message);
    }
  }
}

/** A feed resumed from `from` (filtered to demo.echo) delivers a task enqueued now. */
async function expectResumes(from: string, label: string): Promise<void> {
  const resumed = server.subscribeWs(TaskEventFeedDocument, { filter: { name: 'demo.echo' }, after: from });
  const id = await server.enqueue('demo.echo', [label]);
  await resumed.waitFor((v) => v.taskEventFeed.taskId === id && v.taskEventFeed.status === 'SUCCEEDED');
  resumed.unsubscribe();
}

/** A feed cursor just after everything `id` (a finished task) wrote. */
async function cursorAfter(id: string): Promise<string> {
  const log = await waitFor(
    async () => {
      const task = (await server.execute(TaskEventLogDocument, { id })).data?.taskResult;
      return task?.version === 3 ? task.events.edges : undefined;
    },
    { message: 'the marker to finish' },
  );
  return log.at(-1)!.node.cursor;
}

describe('taskEventFeed(after:)', () => {
  it('refuses a cursor whose position does not fit xid8, bigint or an exact JS number with BAD_USER_INPUT naming after, and other feeds resuming meanwhile still deliver', async () => {
    const from = await cursorAfter(await server.enqueue('demo.echo', ['marker']));
    const bad = [
      'feed:1:9999999999999999999', // above bigint's max
      'feed:1:9007199254740992', // 2^53: fits bigint, rounded as a JS number
      'feed:18446744073709551616:1', // 2^64: above xid8's max
      'feed:99999999999999999999:1',
    ];
    // Without the check each stayed open and stalled every other feed resuming.
    await expectRefused(bad);
    await expectResumes(from, 'after');
  });
});

describe('taskEventFeedCursor', () => {
  it('is a position a feed subscribed later resumes from: a task written and finished in between is sent whole', async () => {
    const from = (await server.execute(TaskEventFeedCursorDocument, {})).data?.taskEventFeedCursor;
    expect(typeof from).toBe('string');
    // Written and finished before the feed is subscribed: a feed started "now" would miss all of it.
    const id = await server.enqueue('demo.echo', ['between']);
    await cursorAfter(id);
    const feed = server.subscribeWs(TaskEventFeedDocument, { filter: { name: 'demo.echo' }, after: from });
    await feed.waitFor((v) => v.taskEventFeed.taskId === id && v.taskEventFeed.status === 'SUCCEEDED');
    feed.unsubscribe();
    expect(feed.values.filter((v) => v.taskEventFeed.taskId === id).map((v) => v.taskEventFeed.type)).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
  });
});

describe('taskEventFeed(after:) past the log', () => {
  it("refuses a cursor past every transaction this database has begun (another database's, or one from before a restore) with BAD_USER_INPUT naming after", async () => {
    const from = await cursorAfter(await server.enqueue('demo.echo', ['marker']));
    const [row] = await server.sql<{ next: string }[]>`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next`;
    const next = BigInt(row!.next);
    // Valid positions (within xid8 and bigint): without the check such a feed stayed open, delivering nothing.
    const ahead = [`feed:${next + 1000n}:1`, `feed:${next + 100_000n}:0`, 'feed:18446744073709551615:1'];
    await expectRefused(ahead, /ahead of this database's event log/);
    // The newest cursor this server gave is taken.
    await expectResumes(from, 'after the refusals');
  });
});

describe('taskEventFeed(filter:)', () => {
  it("delivers the events of a workflow's steps to filter.workflowId, alone or with the other conditions", async () => {
    const from = await cursorAfter(await server.enqueue('demo.echo', ['marker']));
    const res = await server.execute(WfEnqueueDocument, {
      input: {
        name: 'feed-filter',
        steps: [
          { ref: 'a', task: { name: 'demo.echo', args: ['a'] } },
          { ref: 'b', task: { name: 'demo.echo', args: ['b'] }, dependsOn: ['a'] },
        ],
      },
    });
    const workflow = res.data!.enqueueWorkflow.workflow;
    const steps = workflow.steps.map((s) => s.task.id);
    const outsider = await server.enqueue('demo.echo', ['not a step']);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id: steps[1]! })).data?.taskResult?.events.edges.at(-1)?.node.status === 'SUCCEEDED', {
      message: 'the workflow to finish',
    });

    const all = server.subscribeWs(TaskEventFeedDocument, { filter: { workflowId: workflow.id }, after: from });
    // In upper case: ids compare as PostgreSQL compares uuids.
    const combined = server.subscribeSse(TaskEventFeedDocument, {
      filter: { workflowId: workflow.id.toUpperCase(), name: 'demo.echo', queue: 'default', status: ['SUCCEEDED'], enqueuedAfter: new Date(0).toISOString() },
      after: from,
    });
    for (const feed of [all, combined]) {
      for (const id of steps) await feed.waitFor((v) => v.taskEventFeed.taskId === id && v.taskEventFeed.status === 'SUCCEEDED');
    }
    const outsiderDone = await server.enqueue('demo.echo', ['later']);
    const everything = server.subscribeWs(TaskEventFeedDocument, { after: from });
    await everything.waitFor((v) => v.taskEventFeed.taskId === outsiderDone && v.taskEventFeed.status === 'SUCCEEDED');
    everything.unsubscribe();
    expect(all.values.every((v) => steps.includes(v.taskEventFeed.taskId))).toBe(true);
    expect(all.values.some((v) => v.taskEventFeed.taskId === outsider)).toBe(false);
    for (const id of steps) expect(all.values.filter((v) => v.taskEventFeed.taskId === id).at(-1)?.taskEventFeed.status).toBe('SUCCEEDED');
    expect(combined.values.map((v) => [v.taskEventFeed.taskId, v.taskEventFeed.status]).sort()).toEqual(steps.map((id) => [id, 'SUCCEEDED']).sort());
    all.unsubscribe();
    combined.unsubscribe();
  });
});

describe('taskEvents(afterVersion:) at or beyond the end of an unfinished task', () => {
  it('completes once the task ends at or below afterVersion, as it does at once for a finished task', async () => {
    const id = await server.enqueue('demo.sleep', [1500]);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id })).data?.taskResult?.version === 2, { message: 'the task to run' });
    // It ends at version 3: afterVersion 3 (its last event) and 50 (past it) have nothing to tell.
    const streams = [
      server.subscribeWs(TaskEventsDocument, { id, afterVersion: 3 }),
      server.subscribeSse(TaskEventsDocument, { id, afterVersion: 3 }),
      server.subscribeWs(TaskEventsDocument, { id, afterVersion: 50 }),
      server.subscribeSse(TaskEventsDocument, { id, afterVersion: 50 }),
    ];
    // At its current version: the last event, then the end (as before).
    const current = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 2 });
    for (const stream of streams) {
      expect(await endOf(stream, 10_000)).toBe('complete');
      expect(stream.values).toEqual([]);
    }
    expect(await endOf(current, 10_000)).toBe('complete');
    expect(current.values.map((v) => [v.taskEvents.version, v.taskEvents.status])).toEqual([[3, 'SUCCEEDED']]);
    // The finished task: the same subscriptions end at once.
    for (const afterVersion of [3, 50]) {
      const late = server.subscribeWs(TaskEventsDocument, { id, afterVersion });
      expect(await endOf(late)).toBe('complete');
      expect(late.values).toEqual([]);
    }
  });

  it('does not end while the task goes on past the versions it had, and delivers what comes after afterVersion', async () => {
    const id = await server.enqueue('demo.sleep', [1500]);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id })).data?.taskResult?.version === 2, { message: 'the task to run' });
    // Beyond the log's end, but not beyond the task's: its SUCCEEDED is version 3.
    const stream = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 2 });
    const ahead = server.subscribeWs(TaskEventsDocument, { id, afterVersion: 1 });
    expect(await endOf(stream, 10_000)).toBe('complete');
    expect(await endOf(ahead, 10_000)).toBe('complete');
    expect(stream.values.map((v) => v.taskEvents.version)).toEqual([3]);
    expect(ahead.values.map((v) => v.taskEvents.version)).toEqual([2, 3]);
  });
});

describe('Task.events(after:)', () => {
  it('refuses a version cursor that is not plain decimal digits within int4 with BAD_USER_INPUT naming after', async () => {
    const id = await server.enqueue('math.copysign', [1, -1]);
    await waitFor(async () => (await server.execute(TaskEventLogDocument, { id })).data?.taskResult?.version === 3, { message: 'the task to finish' });
    for (const text of ['version:2147483648', 'version:99999999999', 'version:', 'version:1e3', 'version:0x10', 'version:-1', 'version: 1', 'version:1.0', 'version:1:2']) {
      const res = await server.execute(TaskEventLogDocument, { id, after: cursor(text) });
      const error = onlyError(res);
      expect([error.extensions?.code, error.extensions?.field], text).toEqual(['BAD_USER_INPUT', 'after']);
    }
    // The ends of the range still page.
    const top = await server.execute(TaskEventLogDocument, { id, after: cursor('version:2147483647') });
    expect(top.errors).toBeUndefined();
    expect(top.data?.taskResult?.events.edges).toEqual([]);
    const start = await server.execute(TaskEventLogDocument, { id, after: cursor('version:0') });
    expect(start.data?.taskResult?.events.edges.map((e) => e.node.version)).toEqual([1, 2, 3]);
  });
});
