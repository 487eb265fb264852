import { expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { bearer, createAuthTransports } from '../helpers/auth-transports.js';
import { waitFor } from '../helpers/wait.js';

// Issue #12: filter-less taskStatusChanged and taskEventFeed through the server (graphql-ws and
// SSE, API keys) while two tenants enqueue a few hundred tasks each and a worker runs them. Each
// tenant's subscribers get zero foreign events and every one of their own; an admin sees both.
const env = useTestServer({ env: { ...AUTH_ENV, ENQUEUE_RATE_PER_S: '0' }, runner: { concurrency: 8 } });
const PER_TENANT = 300;
const TENANTS = ['acme', 'acme%'] as const; // one name a prefix of the other, with a LIKE wildcard
type TenantName = (typeof TENANTS)[number];

const STATUS = 'subscription { taskStatusChanged { id tenant status version args } }';
const FEED = 'subscription { taskEventFeed { taskId version type status task { id tenant args } } }';
const ENQUEUE = 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id tenant } } }';

interface Delivered {
  label: string;
  /** The tenant whose subscriber this is; undefined: the admin. */
  tenant: TenantName | undefined;
  kind: 'status' | 'feed';
  items(): { id: string; tenant: string; status: string; version: number; args: unknown[] }[];
}

it('filter-less taskStatusChanged and taskEventFeed: zero foreign events for each tenant, all of its own; an admin sees both', { timeout: 180_000 }, async () => {
  const t = createAuthTransports(env.server.url);
  try {
    const keys = Object.fromEntries(await Promise.all(TENANTS.map(async (n) => [n, (await createTestKey(env.server.sql, n, ['tasks:read', 'tasks:enqueue'])).key] as const))) as Record<TenantName, string>;
    const admin = (await createTestKey(env.server.sql, 'ops', ['admin'])).key;

    const subscribers: Delivered[] = [];
    const follow = async (label: string, tenant: TenantName | undefined, credential: string, transport: 'ws' | 'sse', kind: 'status' | 'feed'): Promise<void> => {
      const query = kind === 'status' ? STATUS : FEED;
      const results = transport === 'ws' ? t.ws({ authorization: `Bearer ${credential}` }).subscribe(query).results : (await t.sse(query, {}, bearer(credential))).results;
      subscribers.push({
        label,
        tenant,
        kind,
        items: () =>
          results.flatMap((r) => {
            if (r.errors) throw new Error(`${label}: ${JSON.stringify(r.errors)}`);
            if (kind === 'status') return [r.data?.taskStatusChanged as ReturnType<Delivered['items']>[number]];
            const e = r.data?.taskEventFeed as { taskId: string; version: number; status: string; task: { tenant: string; args: unknown[] } };
            return [{ id: e.taskId, tenant: e.task.tenant, status: e.status, version: e.version, args: e.task.args }];
          }),
      });
    };
    for (const tenant of TENANTS) {
      for (const kind of ['status', 'feed'] as const) {
        await follow(`${tenant} ${kind} ws 1`, tenant, keys[tenant], 'ws', kind);
        await follow(`${tenant} ${kind} ws 2`, tenant, keys[tenant], 'ws', kind);
        await follow(`${tenant} ${kind} sse`, tenant, keys[tenant], 'sse', kind);
      }
    }
    await follow('admin status ws', undefined, admin, 'ws', 'status');
    await follow('admin feed sse', undefined, admin, 'sse', 'feed');
    // The subscriptions are live once a task reaches every one of them. graphql-ws does not
    // acknowledge a subscription, so one may be set up after a probe has come and gone: probes go
    // out, one per tenant, until each subscription has seen one of its own (any, for the admin).
    // Only the tasks enqueued after that are counted below (a probe may be seen in part).
    const probes: Record<TenantName, Set<string>> = { acme: new Set(), 'acme%': new Set() };
    const live = (s: Delivered): boolean => s.items().some((i) => (s.tenant ? [s.tenant] : TENANTS).some((tenant) => probes[tenant].has(i.id)));
    await waitFor(
      async () => {
        if (probes.acme.size > 0 && subscribers.every(live)) return true;
        for (const tenant of TENANTS) probes[tenant].add((await env.server.deps.queue.enqueue({ name: 'demo.echo', args: [`marker of ${tenant}`], tenant })).id);
        return false;
      },
      { intervalMs: 50, message: 'every subscription to be live' },
    );
    const ids: Record<TenantName, Set<string>> = { acme: new Set(), 'acme%': new Set() };

    // Both tenants enqueue at once over HTTP, interleaved, while the worker runs what is there.
    const jobs = Array.from({ length: PER_TENANT * 2 }, (_, i) => TENANTS[i % 2] as TenantName);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let tenant = jobs.shift(); tenant !== undefined; tenant = jobs.shift()) {
          const res = await t.post(ENQUEUE, { input: { name: 'demo.echo', args: [`marker of ${tenant}`] } }, bearer(keys[tenant]));
          const task = (res.data?.enqueueTask as { task: { id: string; tenant: string } } | undefined)?.task;
          if (!task || task.tenant !== tenant) throw new Error(`enqueue as ${tenant}: ${res.text}`);
          ids[tenant].add(task.id);
        }
      }),
    );
    const enqueuedMs = Date.now() - started;

    const succeeded = (s: Delivered, own: Set<string>): number => new Set(s.items().filter((i) => i.status === 'SUCCEEDED' && own.has(i.id)).map((i) => i.id)).size;
    const everyone = new Set([...ids.acme, ...ids['acme%']]);
    await waitFor(() => subscribers.every((s) => succeeded(s, s.tenant ? ids[s.tenant] : everyone) === (s.tenant ? ids[s.tenant] : everyone).size), {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'every subscriber to see each of its tasks succeed',
    });

    for (const s of subscribers) {
      const items = s.items();
      if (s.tenant === undefined) {
        // The admin: both tenants, every task.
        expect(succeeded(s, ids.acme), s.label).toBe(ids.acme.size);
        expect(succeeded(s, ids['acme%']), s.label).toBe(ids['acme%'].size);
        console.log(`[hostile] two tenants' load, ${s.label}: ${items.length} events, both tenants' ${everyone.size} tasks seen succeed`);
        continue;
      }
      const other = s.tenant === 'acme' ? 'acme%' : 'acme';
      const mine = (id: string): boolean => ids[s.tenant as TenantName].has(id) || probes[s.tenant as TenantName].has(id);
      const foreign = items.filter((i) => !mine(i.id) || i.tenant !== s.tenant || i.args[0] !== `marker of ${s.tenant}`);
      expect(foreign.length, `${s.label}: foreign events`).toBe(0);
      const own = items.filter((i) => ids[s.tenant as TenantName].has(i.id));
      expect(succeeded(s, ids[s.tenant]), s.label).toBe(ids[s.tenant].size);
      if (s.kind === 'feed') {
        // The feed skips nothing: each own task's versions 1..n, each once (ENQUEUED, STARTED, SUCCEEDED).
        const versions = new Map<string, number[]>();
        for (const i of own) versions.set(i.id, [...(versions.get(i.id) ?? []), i.version]);
        for (const [id, v] of versions) expect(v, `${s.label} ${id}`).toEqual(Array.from({ length: v.length }, (_, k) => k + 1));
        expect(own.length, s.label).toBeGreaterThanOrEqual(ids[s.tenant].size * 3);
      }
      console.log(`[hostile] two tenants' load, ${s.label}: ${own.length} own events, ${foreign.length} foreign (of ${ids[other].size} foreign tasks)`);
    }
    console.log(`[hostile] two tenants' load: ${PER_TENANT} tasks each enqueued over HTTP in ${enqueuedMs} ms and run by the worker; ${subscribers.length} filter-less subscribers`);
  } finally {
    await t.closeAll();
  }
});
