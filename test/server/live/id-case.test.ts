import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { createBulkActionRunner } from '../../../src/queue/bulk-actions/index.js';
import { startTestServer, type TestServer } from '../../helpers/app.js';

// A UUID is the same whatever the case of its hex digits: queries read `01A2…` as `01a2…`, and so
// must every subscription. The hubs delivered changes by the id as PostgreSQL writes it (lower
// case), so a subscription by the id in capitals got its first state and then nothing, for ever.

type Doc<R> = TypedDocumentNode<R, { id: string }>;
const doc = <R>(text: string): Doc<R> => parse(text) as Doc<R>;
const STATUS = doc<{ taskStatusChanged: { id: string; status: string } }>('subscription ($id: ID!) { taskStatusChanged(id: $id) { id status } }');
const EVENTS = doc<{ taskEvents: { version: number; status: string } }>('subscription ($id: ID!) { taskEvents(id: $id, afterVersion: 0) { version status } }');
const WORKFLOW = doc<{ workflowChanged: { id: string; status: string } }>('subscription ($id: ID!) { workflowChanged(id: $id) { id status } }');
const BULK = doc<{ bulkActionChanged: { id: string; status: string } }>('subscription ($id: ID!) { bulkActionChanged(id: $id) { id status } }');

let server: TestServer;
beforeAll(async () => {
  // No runner until the subscriptions have their first state: every later change is a live one.
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('subscriptions by an id in capitals', () => {
  it('taskStatusChanged, taskEvents, workflowChanged and bulkActionChanged follow the change to its end, over graphql-ws and SSE', async () => {
    const taskId = await server.enqueue('demo.echo', ['loud']);
    const flow = await server.post({
      query: 'mutation ($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { id } } }',
      variables: { input: { steps: [{ ref: 'a', task: { name: 'demo.echo', args: [1] } }, { ref: 'b', task: { name: 'demo.echo', args: [2] }, dependsOn: ['a'] }] } },
    });
    const workflowId = (flow.data as { enqueueWorkflow: { workflow: { id: string } } }).enqueueWorkflow.workflow.id;
    await server.post({ query: 'mutation { enqueueTask(input: { name: "demo.echo", queue: "id-case" }) { task { id } } }' });
    const bulk = await server.post({ query: 'mutation { cancelTasks(filter: { queue: "id-case" }) { id } }' });
    const bulkId = (bulk.data as { cancelTasks: { id: string } }).cancelTasks.id;

    const up = (id: string) => ({ id: id.toUpperCase() });
    const streams = {
      statusWs: server.subscribeWs(STATUS, up(taskId)),
      statusSse: server.subscribeSse(STATUS, up(taskId)),
      eventsWs: server.subscribeWs(EVENTS, up(taskId)),
      eventsSse: server.subscribeSse(EVENTS, up(taskId)),
      workflowWs: server.subscribeWs(WORKFLOW, up(workflowId)),
      workflowSse: server.subscribeSse(WORKFLOW, up(workflowId)),
      bulkWs: server.subscribeWs(BULK, up(bulkId)),
    };
    await Promise.all(Object.values(streams).map((s) => s.waitFor(() => true)));

    await server.startRunner();
    const bulkRunner = createBulkActionRunner({ sql: server.sql, log: silentLogger, resultTtlMs: 60_000, pollIntervalMs: 60_000 });
    await bulkRunner.start();
    try {
      for (const [name, stream] of Object.entries(streams)) {
        expect(await stream.done, `${name}: ${JSON.stringify(stream.errors)}`).toBe('complete');
        expect(stream.errors, name).toEqual([]);
      }
    } finally {
      await bulkRunner.stop();
    }
    expect(streams.statusWs.values.at(-1)?.taskStatusChanged).toEqual({ id: taskId, status: 'SUCCEEDED' });
    expect(streams.eventsWs.values.map((v) => v.taskEvents.version)).toEqual([1, 2, 3]);
    expect(streams.eventsSse.values.map((v) => v.taskEvents.version)).toEqual([1, 2, 3]);
    expect(streams.workflowWs.values.at(-1)?.workflowChanged).toEqual({ id: workflowId, status: 'SUCCEEDED' });
    expect(streams.bulkWs.values.at(-1)?.bulkActionChanged).toEqual({ id: bulkId, status: 'DONE' });
  });
});
