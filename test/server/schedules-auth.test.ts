import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createScheduler } from '../../src/queue/schedules/scheduler.js';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { bearer } from '../helpers/auth-transports.js';
import { errorCodes } from '../helpers/graphql.js';

// Schedules under AUTH_MODE=on, over HTTP: scopes (DESIGN Part 2 §B) and tenants. Another
// tenant's schedule answers exactly as a key that does not exist, on every field.
const env = useTestServer({ env: { ...AUTH_ENV } });

const ALL = ['tasks:read', 'tasks:enqueue', 'schedules:write'];
const keys: Record<string, string> = {};
beforeAll(async () => {
  const sql = env.server.sql;
  const make = async (name: string, tenant: string, scopes: string[]): Promise<void> => {
    keys[name] = (await createTestKey(sql, tenant, scopes)).key;
  };
  await make('acme', 'acme', ALL);
  await make('globex', 'globex', ALL);
  await make('reader', 'acme', ['tasks:read']);
  await make('demoOnly', 'acme', ['tasks:read', 'tasks:enqueue:demo.*', 'schedules:write']);
  await make('noEnqueue', 'acme', ['tasks:read', 'schedules:write']);
  await make('admin', 'acme', ['admin']);
});

type Res = { status: number; data: Record<string, unknown> | null | undefined; errors: readonly { extensions?: Record<string, unknown> }[] | undefined };
const as = (who: string, query: string, variables: Record<string, unknown> = {}): Promise<Res> => env.server.post({ query, variables }, bearer(keys[who] as string));

const UPSERT = 'mutation($input: UpsertScheduleInput!) { upsertSchedule(input: $input) { id key taskName args paused } }';
const input = (key: string, name = 'demo.echo', args: unknown[] = []): Record<string, unknown> => ({ input: { key, cron: '0 * * * * *', task: { name, args } } });

describe('scopes', () => {
  it('reads with tasks:read; every write needs schedules:write (FORBIDDEN, nothing stored)', async () => {
    expect((await as('acme', UPSERT, input('scoped'))).errors).toBeUndefined();
    expect((await as('reader', '{ schedules(first: 5) { edges { node { key } } } schedule(key: "scoped") { key } }')).data).toMatchObject({ schedule: { key: 'scoped' } });
    const writes = [
      [UPSERT, input('by-reader')],
      ['mutation { pauseSchedule(key: "scoped") { key } }', {}],
      ['mutation { resumeSchedule(key: "scoped") { key } }', {}],
      ['mutation { deleteSchedule(key: "scoped") }', {}],
      ['mutation { triggerSchedule(key: "scoped") { id } }', {}],
    ] as const;
    for (const [query, variables] of writes) expect(errorCodes((await as('reader', query, variables)).errors)).toEqual(['FORBIDDEN']);
    expect((await as('acme', '{ schedule(key: "by-reader") { key } schedules(first: 100) { totalCount } }')).data).toMatchObject({ schedule: null });
    expect((await as('acme', '{ schedule(key: "scoped") { paused runs { totalCount } } }')).data).toEqual({ schedule: { paused: false, runs: { totalCount: 0 } } });
  });

  it('upsert and trigger need an enqueue scope matching the task name (FORBIDDEN naming the field)', async () => {
    expect((await as('demoOnly', UPSERT, input('demo-ok', 'demo.echo'))).errors).toBeUndefined();
    const refused = await as('demoOnly', UPSERT, input('math-refused', 'math.copysign', [1, -1]));
    expect(errorCodes(refused.errors)).toEqual(['FORBIDDEN']);
    expect(refused.errors?.[0]?.extensions?.field).toBe('input.task.name');
    expect(errorCodes((await as('noEnqueue', UPSERT, input('no-enqueue'))).errors)).toEqual(['FORBIDDEN']);
    // A math schedule made by a broader key: demoOnly may pause it, not fire it.
    expect((await as('acme', UPSERT, input('math-by-acme', 'math.copysign', [1, -1]))).errors).toBeUndefined();
    expect(errorCodes((await as('demoOnly', 'mutation { pauseSchedule(key: "math-by-acme") { paused } }')).errors)).toEqual([]);
    const trigger = await as('demoOnly', 'mutation { triggerSchedule(key: "math-by-acme") { id } }');
    expect(errorCodes(trigger.errors)).toEqual(['FORBIDDEN']);
    expect(trigger.errors?.[0]?.extensions?.field).toBe('key');
    expect((await as('demoOnly', 'mutation { triggerSchedule(key: "demo-ok") { name } }')).data).toEqual({ triggerSchedule: { name: 'demo.echo' } });
    expect((await as('acme', '{ schedule(key: "math-by-acme") { runs { totalCount } } }')).data).toEqual({ schedule: { runs: { totalCount: 0 } } });
  });

  it('a read token reads its task, but never a schedule (FORBIDDEN)', async () => {
    const trigger = await as('acme', 'mutation { triggerSchedule(key: "scoped") { id } }');
    const id = (trigger.data?.triggerSchedule as { id: string }).id;
    const minted = await as('acme', 'mutation($ids: [ID!]!) { createReadToken(taskIds: $ids) { token } }', { ids: [id] });
    const token = (minted.data?.createReadToken as { token: string }).token;
    const read = (query: string, variables: Record<string, unknown> = {}): Promise<Res> => env.server.post({ query, variables }, bearer(token));
    expect(errorCodes((await read('{ schedule(key: "scoped") { key } }')).errors)).toEqual(['FORBIDDEN']);
    expect(errorCodes((await read('{ schedules { totalCount } }')).errors)).toEqual(['FORBIDDEN']);
    expect(errorCodes((await read(UPSERT, input('by-token'))).errors)).toEqual(['FORBIDDEN']);
    const own = await read('query($id: ID!) { taskResult(id: $id) { id scheduledFor schedule { key } } }', { id });
    expect(own.data).toEqual({ taskResult: { id, scheduledFor: null, schedule: null } });
    expect(errorCodes(own.errors)).toEqual(['FORBIDDEN']);
  });
});

describe('tenants', () => {
  it("another tenant's schedule is unknown on every field, and its key is free for its own", async () => {
    const mine = await as('acme', UPSERT, input('shared-key', 'demo.echo', ['acme-marker']));
    const acmeId = (mine.data?.upsertSchedule as { id: string }).id;
    await as('acme', 'mutation { triggerSchedule(key: "shared-key") { id } }');

    const probes = [
      '{ schedule(key: "shared-key") { id } }',
      'mutation { pauseSchedule(key: "shared-key") { id } }',
      'mutation { resumeSchedule(key: "shared-key") { id } }',
      'mutation { triggerSchedule(key: "shared-key") { id } }',
      'mutation { deleteSchedule(key: "shared-key") }',
    ];
    for (const probe of probes) {
      const [foreign, none] = [await as('globex', probe), await as('globex', probe.replace('shared-key', 'never-existed'))];
      const seen = (r: Res): unknown => ({ status: r.status, data: r.data, codes: errorCodes(r.errors), fields: r.errors?.map((e) => e.extensions?.field) });
      expect(seen(foreign)).toEqual(seen(none));
      expect(JSON.stringify(foreign)).not.toContain('acme');
    }
    // By id too: node(id) of acme's schedule is globex's unknown id.
    expect((await as('globex', 'query($id: ID!) { node(id: $id) { id } }', { id: acmeId })).data).toEqual({ node: null });
    expect((await as('acme', 'query($id: ID!) { node(id: $id) { id } }', { id: acmeId })).data).toEqual({ node: { id: acmeId } });
    const list = await as('globex', '{ schedules(first: 100) { totalCount edges { node { id key args } } } }');
    expect(JSON.stringify(list)).not.toContain(acmeId);
    expect(JSON.stringify(list)).not.toContain('acme-marker');

    // globex's own schedule under the same key: a second one; acme's is untouched (not paused, not deleted).
    const theirs = await as('globex', UPSERT, input('shared-key', 'demo.echo', ['globex-marker']));
    expect((theirs.data?.upsertSchedule as { id: string }).id).not.toBe(acmeId);
    const acmeView = await as('acme', '{ schedule(key: "shared-key") { id args paused runs { totalCount } } }');
    expect(acmeView.data).toEqual({ schedule: { id: acmeId, args: ['acme-marker'], paused: false, runs: { totalCount: 1 } } });
  });

  it("a fired task's schedule is its tenant's; an admin sees every tenant's schedules", async () => {
    await as('globex', UPSERT, input('globex-fired'));
    const created = await as('globex', '{ schedule(key: "globex-fired") { nextRunAt } }');
    const at = new Date((created.data?.schedule as { nextRunAt: string }).nextRunAt);
    await createScheduler({ sql: env.server.sql, log: silentLogger }).runOnce(new Date(at.getTime() + 10));
    const fired = await as('globex', '{ schedule(key: "globex-fired") { lastTask { id tenant scheduledFor schedule { key tenant } } } }');
    const task = (fired.data?.schedule as { lastTask: { id: string; tenant: string; schedule: { key: string; tenant: string } } }).lastTask;
    expect(task).toMatchObject({ tenant: 'globex', scheduledFor: at.toISOString(), schedule: { key: 'globex-fired', tenant: 'globex' } });
    // acme cannot read globex's task at all.
    expect((await as('acme', 'query($id: ID!) { taskResult(id: $id) { id } }', { id: task.id })).data).toEqual({ taskResult: null });
    const all = await as('admin', '{ schedules(first: 100) { edges { node { key tenant } } } }');
    const tenants = new Set((all.data?.schedules as { edges: { node: { tenant: string } }[] }).edges.map((e) => e.node.tenant));
    expect(tenants).toEqual(new Set(['acme', 'globex']));
  });
});

// An admin lists every tenant's schedules; it must also reach each of them, by (tenant, key).
describe('tenant:', () => {
  const SHOW = 'query($key: String!, $tenant: String) { schedule(key: $key, tenant: $tenant) { id tenant args paused runs { totalCount } } }';
  const PAUSE = 'mutation($key: String!, $tenant: String) { pauseSchedule(key: $key, tenant: $tenant) { tenant paused } }';
  const RESUME = 'mutation($key: String!, $tenant: String) { resumeSchedule(key: $key, tenant: $tenant) { tenant paused } }';
  const TRIGGER = 'mutation($key: String!, $tenant: String) { triggerSchedule(key: $key, tenant: $tenant) { id tenant name } }';
  const DELETE = 'mutation($key: String!, $tenant: String) { deleteSchedule(key: $key, tenant: $tenant) }';

  it("lets an admin read, pause, resume, trigger, update and delete another tenant's schedule by (tenant, key)", async () => {
    const made = await as('globex', UPSERT, input('globex-nightly', 'demo.echo', ['globex-marker']));
    const id = (made.data?.upsertSchedule as { id: string }).id;
    const key = { key: 'globex-nightly', tenant: 'globex' };
    // Without tenant: the admin's own tenant (acme), which has no such key.
    expect((await as('admin', SHOW, { key: 'globex-nightly' })).data).toEqual({ schedule: null });
    expect((await as('admin', SHOW, key)).data).toEqual({ schedule: { id, tenant: 'globex', args: ['globex-marker'], paused: false, runs: { totalCount: 0 } } });

    expect((await as('admin', PAUSE, key)).data).toEqual({ pauseSchedule: { tenant: 'globex', paused: true } });
    expect((await as('globex', SHOW, { key: 'globex-nightly' })).data).toMatchObject({ schedule: { paused: true } });
    expect((await as('admin', RESUME, key)).data).toEqual({ resumeSchedule: { tenant: 'globex', paused: false } });

    const fired = await as('admin', TRIGGER, key);
    const task = fired.data?.triggerSchedule as { id: string; tenant: string; name: string };
    expect(task).toMatchObject({ tenant: 'globex', name: 'demo.echo' });
    // The task is globex's: its tenant reads it, and the schedule counts it as a run.
    expect((await as('globex', 'query($id: ID!) { taskResult(id: $id) { id } }', { id: task.id })).data).toEqual({ taskResult: { id: task.id } });
    expect((await as('admin', SHOW, key)).data).toMatchObject({ schedule: { runs: { totalCount: 1 } } });
    // The admin's list: each schedule's runs are its own, not those of a same key in the admin's tenant.
    const list = await as('admin', '{ schedules(first: 100) { edges { node { key tenant runs { totalCount } } } } }');
    const listed = (list.data?.schedules as { edges: { node: { key: string; tenant: string; runs: { totalCount: number } } }[] }).edges.map((e) => e.node);
    expect(listed).toContainEqual({ key: 'globex-nightly', tenant: 'globex', runs: { totalCount: 1 } });

    const updated = await as('admin', UPSERT, { input: { key: 'globex-nightly', cron: '0 0 * * * *', task: { name: 'demo.echo', args: ['by-admin'] }, tenant: 'globex' } });
    expect(updated.data).toMatchObject({ upsertSchedule: { id, args: ['by-admin'] } });
    const created = await as('admin', 'mutation($input: UpsertScheduleInput!) { upsertSchedule(input: $input) { tenant key } }', {
      input: { key: 'initech-report', cron: '0 0 * * * *', task: { name: 'demo.echo' }, tenant: 'initech' },
    });
    expect(created.data).toEqual({ upsertSchedule: { tenant: 'initech', key: 'initech-report' } });

    expect((await as('admin', DELETE, key)).data).toEqual({ deleteSchedule: true });
    expect((await as('globex', SHOW, { key: 'globex-nightly' })).data).toEqual({ schedule: null });
    expect((await as('admin', DELETE, { key: 'initech-report', tenant: 'initech' })).data).toEqual({ deleteSchedule: true });
  });

  it('answers a caller limited to its tenant that names another exactly as an unknown key (never FORBIDDEN); its own tenant named is its own', async () => {
    const made = await as('acme', UPSERT, input('acme-only', 'demo.echo', ['acme-marker']));
    const acmeId = (made.data?.upsertSchedule as { id: string }).id;
    const seen = (r: Res): unknown => ({ status: r.status, data: r.data, codes: errorCodes(r.errors), fields: r.errors?.map((e) => e.extensions?.field) });
    for (const probe of [SHOW, PAUSE, RESUME, TRIGGER, DELETE]) {
      const foreign = await as('globex', probe, { key: 'acme-only', tenant: 'acme' });
      expect(seen(foreign)).toEqual(seen(await as('globex', probe, { key: 'never-existed', tenant: 'acme' })));
      expect(seen(foreign)).toEqual(seen(await as('globex', probe, { key: 'never-existed' })));
      expect(JSON.stringify(foreign)).not.toContain('acme-marker');
    }
    const upsert = await as('globex', UPSERT, { input: { key: 'acme-only', cron: '0 0 * * * *', task: { name: 'demo.echo', args: ['globex-wrote'] }, tenant: 'acme' } });
    expect(errorCodes(upsert.errors)).toEqual(['NOT_FOUND']);
    expect(upsert.errors?.[0]?.extensions?.field).toBe('input.tenant');
    // acme's schedule is untouched: not paused, not fired, not rewritten, not deleted.
    expect((await as('acme', SHOW, { key: 'acme-only' })).data).toEqual({ schedule: { id: acmeId, tenant: 'acme', args: ['acme-marker'], paused: false, runs: { totalCount: 0 } } });
    expect((await as('acme', PAUSE, { key: 'acme-only', tenant: 'acme' })).data).toEqual({ pauseSchedule: { tenant: 'acme', paused: true } });
    const bad = await as('admin', SHOW, { key: 'acme-only', tenant: '' });
    expect(errorCodes(bad.errors)).toEqual(['BAD_USER_INPUT']);
    expect(bad.errors?.[0]?.extensions?.field).toBe('tenant');
  });
});
