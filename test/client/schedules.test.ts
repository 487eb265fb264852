import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, RequestError, type TaskwireClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

let server: TestServer;
let client: TaskwireClient;
beforeAll(async () => {
  server = await startTestServer();
  client = createClient({ url: server.url });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
});

describe('the typed client\'s schedule methods', () => {
  it('listSchedules follows the cursors page by page, in key order, with the count on the first page', async () => {
    const keys = ['c-e', 'c-a', 'c-d', 'c-b', 'c-c'];
    for (const key of keys) await client.upsertSchedule({ key, cron: '0 0 * * *', task: { name: 'demo.echo' } });
    const pages = [];
    for await (const page of client.listSchedules({ pageSize: 2, count: true })) pages.push(page);
    expect(pages.map((p) => p.schedules.map((s) => s.key))).toEqual([['c-a', 'c-b'], ['c-c', 'c-d'], ['c-e']]);
    expect(pages.map((p) => p.totalCount)).toEqual([5, undefined, undefined]);
    const limited = [];
    for await (const page of client.listSchedules({ pageSize: 2, limit: 3, after: pages[0]?.endCursor ?? undefined })) limited.push(...page.schedules.map((s) => s.key));
    expect(limited).toEqual(['c-c', 'c-d', 'c-e']);
    // pageSize 0 was one empty page, and nothing said why.
    for (const [options, field] of [[{ pageSize: 0 }, 'pageSize'], [{ pageSize: 101 }, 'pageSize'], [{ limit: -1 }, 'limit']] as const) {
      const error = await (async () => {
        for await (const page of client.listSchedules(options)) void page;
      })().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
  });

  it('schedule() gives the next occurrences and latest tasks; errors are RequestErrors with the code and field', async () => {
    await client.upsertSchedule({ key: 'detail', cron: '*/10 * * * * *', task: { name: 'demo.echo', args: ['d'] } });
    const task = await client.triggerSchedule('detail');
    const detail = await client.schedule('detail', { upcoming: 3, runs: 2 });
    expect(detail?.upcoming).toHaveLength(3);
    expect(detail?.runs.edges.map((e) => e.node.id)).toEqual([task.id]);
    expect(detail?.lastTask?.id).toBe(task.id);
    expect(await client.schedule('nope')).toBeNull();

    const bad = await client.upsertSchedule({ key: 'bad', cron: 'nonsense', task: { name: 'demo.echo' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RequestError);
    expect(bad).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.cron' });
    await expect(client.pauseSchedule('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await client.deleteSchedule('detail')).toBe(true);
    expect(await client.deleteSchedule('detail')).toBe(false);
  });

  it('upsertSchedule carries task.concurrencyKey, and reads it back', async () => {
    const made = await client.upsertSchedule({ key: 'per-account', cron: '* * * * *', task: { name: 'demo.echo', concurrencyKey: 'account-7' } });
    expect(made.concurrencyKey).toBe('account-7');
    expect((await client.schedule('per-account'))?.concurrencyKey).toBe('account-7');
  });
});
