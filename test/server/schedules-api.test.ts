import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createScheduler } from '../../src/queue/schedules/scheduler.js';
import { useTestServer } from '../helpers/app.js';
import { onlyError } from '../helpers/graphql.js';

// The schedule API of DESIGN §D over real HTTP (and graphql-ws for a fired task's fields), auth off.
const env = useTestServer();

const SCHEDULE = `id key cron timezone taskName args kwargs queue priority maxAttempts overlap missed paused nextRunAt lastRunAt version
  lastTask { id status scheduledFor }`;
const UPSERT = `mutation($input: UpsertScheduleInput!) { upsertSchedule(input: $input) { ${SCHEDULE} } }`;
const GET = `query($key: String!) { schedule(key: $key) { ${SCHEDULE} } }`;

interface ScheduleView {
  id: string;
  key: string;
  cron: string;
  timezone: string;
  taskName: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue: string;
  overlap: string;
  missed: string;
  paused: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
  version: number;
  lastTask: { id: string; status: string; scheduledFor: string | null } | null;
}

async function gql(query: string, variables: Record<string, unknown> = {}): Promise<{ data: Record<string, unknown> | null | undefined; errors: readonly { extensions?: Record<string, unknown> }[] | undefined }> {
  return env.server.post({ query, variables });
}

async function ok<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await gql(query, variables);
  if (res.errors) throw new Error(`expected data, got ${JSON.stringify(res.errors)}`);
  return res.data as T;
}

const upsert = async (input: Record<string, unknown>): Promise<ScheduleView> => (await ok<{ upsertSchedule: ScheduleView }>(UPSERT, { input })).upsertSchedule;
const get = async (key: string): Promise<ScheduleView | null> => (await ok<{ schedule: ScheduleView | null }>(GET, { key })).schedule;
const codeOf = (res: { errors?: readonly { extensions?: Record<string, unknown> }[] | undefined }): unknown => onlyError(res as never).extensions?.code;
const fieldOf = (res: { errors?: readonly { extensions?: Record<string, unknown> }[] | undefined }): unknown => onlyError(res as never).extensions?.field;

describe('upsertSchedule', () => {
  it('creates with the defaults (UTC, ALLOW, RUN_ONCE, not paused) and a future nextRunAt, then updates by key', async () => {
    const before = Date.now();
    const created = await upsert({ key: 'nightly', cron: '0 3 * * *', task: { name: 'demo.echo', args: ['hi'], kwargs: { k: 1 } } });
    expect(created).toMatchObject({ key: 'nightly', cron: '0 3 * * *', timezone: 'UTC', taskName: 'demo.echo', args: ['hi'], kwargs: { k: 1 }, queue: 'default' });
    expect(created).toMatchObject({ overlap: 'ALLOW', missed: 'RUN_ONCE', paused: false, lastRunAt: null, lastTask: null });
    expect(new Date(created.nextRunAt ?? 0).getTime()).toBeGreaterThan(before);
    expect(new Date(created.nextRunAt ?? 0).getUTCHours()).toBe(3);

    const updated = await upsert({ key: 'nightly', cron: '30 4 * * *', timezone: 'Europe/Paris', task: { name: 'demo.echo', args: ['again'] }, overlap: 'SKIP', missed: 'RUN_ALL' });
    expect(updated).toMatchObject({ id: created.id, cron: '30 4 * * *', timezone: 'Europe/Paris', args: ['again'], overlap: 'SKIP', missed: 'RUN_ALL' });
    expect(updated.version).toBeGreaterThan(created.version);
    expect(await get('nightly')).toMatchObject({ id: created.id, cron: '30 4 * * *' });
  });

  it('is a Node: node(id) refetches it', async () => {
    const created = await upsert({ key: 'as-node', cron: '0 3 * * *', task: { name: 'demo.echo' } });
    const { node } = await ok<{ node: { __typename: string; id: string; key: string } }>('query($id: ID!) { node(id: $id) { __typename id ... on Schedule { key } } }', { id: created.id });
    expect(node).toEqual({ __typename: 'Schedule', id: created.id, key: 'as-node' });
  });

  it('keeps a pause through an update without `paused`, and applies `paused` when given', async () => {
    await upsert({ key: 'keeps-pause', cron: '*/5 * * * *', task: { name: 'demo.echo' } });
    await ok('mutation { pauseSchedule(key: "keeps-pause") { paused } }');
    expect(await upsert({ key: 'keeps-pause', cron: '*/10 * * * *', task: { name: 'demo.echo' } })).toMatchObject({ paused: true, cron: '*/10 * * * *' });
    expect(await upsert({ key: 'keeps-pause', cron: '*/10 * * * *', task: { name: 'demo.echo' }, paused: false })).toMatchObject({ paused: false });
    expect(await upsert({ key: 'created-paused', cron: '* * * * *', task: { name: 'demo.echo' }, paused: true })).toMatchObject({ paused: true });
  });

  it.each([
    ['a cron that does not parse', { cron: 'every day at noon' }, 'BAD_USER_INPUT', 'input.cron'],
    ['a cron of 7 fields', { cron: '0 0 0 * * * *' }, 'BAD_USER_INPUT', 'input.cron'],
    ['an unknown time zone', { timezone: 'Mars/Olympus_Mons' }, 'BAD_USER_INPUT', 'input.timezone'],
    ['runAfter on the task', { task: { name: 'demo.echo', runAfter: '2030-01-01T00:00:00Z' } }, 'BAD_USER_INPUT', 'input.task.runAfter'],
    ['idempotencyKey on the task', { task: { name: 'demo.echo', idempotencyKey: 'x' } }, 'BAD_USER_INPUT', 'input.task.idempotencyKey'],
  ])('refuses %s with %s naming %s, storing nothing', async (_what, patch, code, field) => {
    const key = `bad-${Math.random().toString(36).slice(2)}`;
    const res = await gql(UPSERT, { input: { key, cron: '* * * * *', task: { name: 'demo.echo' }, ...patch } });
    expect(codeOf(res)).toBe(code);
    expect(fieldOf(res)).toBe(field);
    expect(await get(key)).toBeNull();
  });

  it('names a long bad time zone by its start and length, not by echoing it whole', async () => {
    const res = await gql(UPSERT, { input: { key: 'long-zone', cron: '* * * * *', timezone: 'A'.repeat(300_000), task: { name: 'demo.echo' } } });
    expect([codeOf(res), fieldOf(res)]).toEqual(['BAD_USER_INPUT', 'input.timezone']);
    const message = onlyError(res as never).message;
    expect(message).toContain(`got "${'A'.repeat(64)}"… (300000 characters)`);
    expect(message.length).toBeLessThan(300);
  });

  it('carries task.concurrencyKey to the schedule and to the tasks it enqueues', async () => {
    const created = await ok<{ upsertSchedule: { concurrencyKey: string | null } }>(
      'mutation { upsertSchedule(input: { key: "k2", cron: "* * * * *", task: { name: "demo.echo", concurrencyKey: "acme" } }) { concurrencyKey } }',
    );
    expect(created.upsertSchedule).toEqual({ concurrencyKey: 'acme' });
    const { triggerSchedule } = await ok<{ triggerSchedule: { concurrencyKey: string | null } }>('mutation { triggerSchedule(key: "k2") { concurrencyKey } }');
    expect(triggerSchedule).toEqual({ concurrencyKey: 'acme' });
    const empty = await gql(UPSERT, { input: { key: 'k3', cron: '* * * * *', task: { name: 'demo.echo', concurrencyKey: '' } } });
    expect([codeOf(empty), fieldOf(empty)]).toEqual(['BAD_USER_INPUT', 'input.task.concurrencyKey']);
  });

  it('refuses an unknown task (UNKNOWN_TASK) and arguments its schema refuses (INVALID_ARGUMENTS), storing nothing', async () => {
    const unknown = await gql(UPSERT, { input: { key: 'unknown-task', cron: '* * * * *', task: { name: 'no.such.task' } } });
    expect(codeOf(unknown)).toBe('UNKNOWN_TASK');
    const invalid = await gql(UPSERT, { input: { key: 'invalid-args', cron: '* * * * *', task: { name: 'math.copysign', args: ['a', 'b'] } } });
    expect(codeOf(invalid)).toBe('INVALID_ARGUMENTS');
    expect(await get('unknown-task')).toBeNull();
    expect(await get('invalid-args')).toBeNull();
  });
});

describe('schedules', () => {
  it('pages by key with cursors, every schedule once, and counts them', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    for (const key of [...keys].reverse()) await upsert({ key, cron: '0 0 * * *', task: { name: 'demo.echo' } });
    const seen: string[] = [];
    let after: string | null = null;
    let total = 0;
    for (let pages = 0; pages < 50; pages++) {
      const { schedules }: { schedules: { totalCount: number; edges: { cursor: string; node: { key: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await ok(
        'query($after: String) { schedules(first: 3, after: $after) { totalCount edges { cursor node { key } } pageInfo { hasNextPage endCursor } } }',
        { after },
      );
      total = schedules.totalCount;
      expect(schedules.edges.length).toBeLessThanOrEqual(3);
      seen.push(...schedules.edges.map((e) => e.node.key));
      if (!schedules.pageInfo.hasNextPage) break;
      after = schedules.pageInfo.endCursor;
    }
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((k) => k.startsWith('page-'))).toEqual(keys);
    expect(total).toBe(seen.length);
  });

  it('answers first: 0 with no schedule but the count and whether there are some', async () => {
    await upsert({ key: 'page-zero', cron: '0 0 * * *', task: { name: 'demo.echo' } });
    const { schedules } = await ok<{ schedules: { edges: unknown[]; totalCount: number; pageInfo: { hasNextPage: boolean } } }>(
      '{ schedules(first: 0) { edges { cursor } totalCount pageInfo { hasNextPage } } }',
    );
    expect(schedules.edges).toEqual([]);
    expect(schedules.totalCount).toBeGreaterThan(0);
    expect(schedules.pageInfo.hasNextPage).toBe(true);
  });

  it('refuses a page over 100 and a cursor it did not make (BAD_USER_INPUT)', async () => {
    expect(codeOf(await gql('{ schedules(first: 101) { edges { cursor } } }'))).toBe('BAD_USER_INPUT');
    expect(codeOf(await gql('{ schedules(first: 2, after: "bm90LWEtY3Vyc29y") { edges { cursor } } }'))).toBe('BAD_USER_INPUT');
  });
});

describe('pause, resume, delete, trigger', () => {
  it('pauses (twice is fine) and resumes to a future occurrence', async () => {
    await upsert({ key: 'toggle', cron: '* * * * * *', task: { name: 'demo.echo' } });
    const paused = await ok<{ pauseSchedule: ScheduleView }>('mutation { pauseSchedule(key: "toggle") { paused nextRunAt } }');
    expect(paused.pauseSchedule.paused).toBe(true);
    expect((await ok<{ pauseSchedule: ScheduleView }>('mutation { pauseSchedule(key: "toggle") { paused } }')).pauseSchedule.paused).toBe(true);
    const before = Date.now() - 1000;
    const resumed = await ok<{ resumeSchedule: ScheduleView }>('mutation { resumeSchedule(key: "toggle") { paused nextRunAt } }');
    expect(resumed.resumeSchedule.paused).toBe(false);
    expect(new Date(resumed.resumeSchedule.nextRunAt ?? 0).getTime()).toBeGreaterThan(before);
  });

  it('deletes: true, then false; the schedule is gone', async () => {
    await upsert({ key: 'doomed', cron: '0 0 1 1 *', task: { name: 'demo.echo' } });
    expect(await ok('mutation { deleteSchedule(key: "doomed") }')).toEqual({ deleteSchedule: true });
    expect(await ok('mutation { deleteSchedule(key: "doomed") }')).toEqual({ deleteSchedule: false });
    expect(await get('doomed')).toBeNull();
  });

  it.each(['pauseSchedule', 'resumeSchedule', 'triggerSchedule'])('%s of an unknown key is NOT_FOUND', async (field) => {
    const selection = field === 'triggerSchedule' ? 'id' : 'key';
    expect(codeOf(await gql(`mutation { ${field}(key: "no-such-schedule") { ${selection} } }`))).toBe('NOT_FOUND');
  });

  it('triggers a paused schedule: a task now, scheduledFor null, listed in runs and as lastTask; upcoming(0) is BAD_USER_INPUT', async () => {
    const before = await env.server.countTasks();
    await upsert({ key: 'manual', cron: '0 0 1 1 *', task: { name: 'demo.echo', args: ['manual'], queue: 'schedules-manual' }, paused: true });
    const { triggerSchedule: task } = await ok<{ triggerSchedule: { id: string; name: string; args: unknown[]; queue: string; status: string; scheduledFor: string | null; schedule: { key: string } | null } }>(
      'mutation { triggerSchedule(key: "manual") { id name args queue status scheduledFor schedule { key } } }',
    );
    expect(task).toMatchObject({ name: 'demo.echo', args: ['manual'], queue: 'schedules-manual', status: 'PENDING', scheduledFor: null, schedule: { key: 'manual' } });
    expect(await env.server.countTasks()).toBe(before + 1);
    const { schedule } = await ok<{ schedule: ScheduleView & { runs: { totalCount: number; edges: { node: { id: string } }[] } } }>(
      `query { schedule(key: "manual") { ${SCHEDULE} runs(first: 10) { totalCount edges { node { id } } } } }`,
    );
    expect(schedule.lastTask).toMatchObject({ id: task.id, status: 'PENDING', scheduledFor: null });
    expect(schedule.runs.edges.map((e) => e.node.id)).toEqual([task.id]);
    expect(schedule.runs.totalCount).toBe(1);
    expect(codeOf(await gql('{ schedule(key: "manual") { upcoming(count: 0) } }'))).toBe('BAD_USER_INPUT');
    expect(codeOf(await gql('{ schedule(key: "manual") { upcoming(count: 101) } }'))).toBe('BAD_USER_INPUT');
  });
});

describe('Schedule.upcoming', () => {
  const localParts = (iso: string, timeZone: string): { hour: number; minute: number; weekday: string } => {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', minute: 'numeric', weekday: 'short', hourCycle: 'h23' }).formatToParts(new Date(iso));
    const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
    return { hour: Number(part('hour')), minute: Number(part('minute')), weekday: part('weekday') };
  };

  it('lists the next occurrences on the wall clock of the schedule\'s time zone, in order', async () => {
    await upsert({ key: 'ny-morning', cron: '30 9 * * 1-5', timezone: 'America/New_York', task: { name: 'demo.echo' } });
    const { schedule } = await ok<{ schedule: { nextRunAt: string; upcoming: string[] } }>('{ schedule(key: "ny-morning") { nextRunAt upcoming(count: 7) } }');
    expect(schedule.upcoming).toHaveLength(7);
    expect(schedule.upcoming[0]).toBe(schedule.nextRunAt);
    for (const at of schedule.upcoming) {
      expect(localParts(at, 'America/New_York')).toMatchObject({ hour: 9, minute: 30 });
      expect(['Sat', 'Sun']).not.toContain(localParts(at, 'America/New_York').weekday);
    }
    const times = schedule.upcoming.map((at) => new Date(at).getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(7);
    // Default: 5; also while paused.
    await ok('mutation { pauseSchedule(key: "ny-morning") { paused } }');
    const paused = await ok<{ schedule: { upcoming: string[] } }>('{ schedule(key: "ny-morning") { upcoming } }');
    expect(paused.schedule.upcoming).toEqual(schedule.upcoming.slice(0, 5));
  });

  it('takes 6-field crons with seconds first', async () => {
    await upsert({ key: 'every-5s', cron: '*/5 * * * * *', task: { name: 'demo.echo' } });
    const { schedule } = await ok<{ schedule: { upcoming: string[] } }>('{ schedule(key: "every-5s") { upcoming(count: 3) } }');
    const [a, b, c] = schedule.upcoming.map((at) => new Date(at).getTime());
    expect([(b as number) - (a as number), (c as number) - (b as number)]).toEqual([5000, 5000]);
    expect(new Date(a as number).getUTCSeconds() % 5).toBe(0);
  });
});

describe('a fired task', () => {
  it('carries scheduledFor (its occurrence) and schedule, over HTTP and graphql-ws; the schedule shows it as lastTask and in runs', async () => {
    const created = await upsert({ key: 'fired', cron: '0 * * * * *', task: { name: 'demo.echo', args: ['tick'] } });
    const occurrence = new Date(created.nextRunAt as string);
    // The scheduler of a worker, on a database clock set just past the occurrence: no waiting.
    const scheduler = createScheduler({ sql: env.server.sql, log: silentLogger });
    await scheduler.runOnce(new Date(occurrence.getTime() + 10));
    const { schedule } = await ok<{ schedule: ScheduleView & { runs: { edges: { node: { id: string; scheduledFor: string; schedule: { key: string; id: string } } }[] } } }>(
      `query { schedule(key: "fired") { ${SCHEDULE} runs(first: 5) { edges { node { id scheduledFor schedule { id key } } } } } }`,
    );
    expect(schedule.runs.edges).toHaveLength(1);
    const run = schedule.runs.edges[0]?.node;
    expect(run).toMatchObject({ scheduledFor: occurrence.toISOString(), schedule: { id: created.id, key: 'fired' } });
    expect(schedule.lastTask).toMatchObject({ id: run?.id, scheduledFor: occurrence.toISOString() });
    expect(schedule.lastRunAt).not.toBeNull();
    expect(new Date(schedule.nextRunAt as string).getTime()).toBeGreaterThan(occurrence.getTime());

    const query = parse(`subscription($id: ID!) { taskStatusChanged(id: $id) { id scheduledFor schedule { key } } }`) as TypedDocumentNode<
      { taskStatusChanged: { id: string; scheduledFor: string; schedule: { key: string } | null } },
      { id: string }
    >;
    const stream = env.server.subscribeWs(query, { id: run?.id as string });
    const first = await stream.waitFor(() => true);
    stream.unsubscribe();
    expect(first.taskStatusChanged).toEqual({ id: run?.id, scheduledFor: occurrence.toISOString(), schedule: { key: 'fired' } });
  });

  it('keeps its scheduledFor once the schedule is deleted; its schedule is then null', async () => {
    const created = await upsert({ key: 'short-lived', cron: '0 * * * * *', task: { name: 'demo.echo' } });
    const occurrence = new Date(created.nextRunAt as string);
    await createScheduler({ sql: env.server.sql, log: silentLogger }).runOnce(new Date(occurrence.getTime() + 10));
    const fired = (await get('short-lived'))?.lastTask;
    expect(fired?.scheduledFor).toBe(occurrence.toISOString());
    await ok('mutation { deleteSchedule(key: "short-lived") }');
    const { taskResult } = await ok<{ taskResult: { scheduledFor: string; schedule: unknown } }>('query($id: ID!) { taskResult(id: $id) { scheduledFor schedule { key } } }', { id: fired?.id });
    expect(taskResult).toEqual({ scheduledFor: occurrence.toISOString(), schedule: null });
  });

  it('a plain task has neither', async () => {
    const id = await env.server.enqueue('demo.echo', []);
    expect(await ok('query($id: ID!) { taskResult(id: $id) { scheduledFor schedule { key } } }', { id })).toEqual({ taskResult: { scheduledFor: null, schedule: null } });
  });
});
