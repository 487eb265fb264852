import { randomBytes } from 'node:crypto';
import type { Queue } from '../../src/queue/index.js';
import { createTestKey } from './auth-credentials.js';
import type { TestServer } from './app.js';

/**
 * Tenants with data that can be recognised anywhere, for the tenant-isolation tests: every task
 * of a tenant carries its marker (a random `mk-…` string) in its args, kwargs, queue name and
 * creator, so a response that shows another tenant's data contains that tenant's marker, task
 * ids or name. `leaks` looks for exactly those in a response's raw text.
 */

export interface Tenant {
  name: string;
  /** `mk-` and 12 random hex digits: in the args, kwargs, queue and creator of each of its tasks. */
  marker: string;
  /** `q-<marker>`: the queue of its tasks. */
  queue: string;
  /** `u-<marker>`: the creator recorded on the tasks made in process. */
  creator: string;
  /** Every task it has (made here or recorded with addTask). */
  taskIds: string[];
  /** Seeded: a PENDING task and a CANCELLED one (whatever later mutations made of them). */
  pendingId: string;
  cancelledId: string;
  /** Seeded: a RUNNING workflow of two demo.echo steps (marker args), the second BLOCKED on the first. */
  workflowId: string;
  /** The seeded PENDING task's idempotency key (no marker: another tenant may send it). */
  idempotencyKey: string;
  /** An API key of the tenant with tasks:read (for making read tokens). */
  ownerKey: string;
  /** The tenant's queue, as the tenant sees it (in process). */
  queueView: Queue;
  /** Enqueues a task of the tenant (marker args, its queue) in process and records it. */
  enqueue(): Promise<string>;
}

export interface TenantWorld {
  /** The tenant called `name`, made and seeded on first use. */
  tenant(name: string): Promise<Tenant>;
  /** Records a task or principal id as `tenant`'s data (e.g. a task enqueued through the API). */
  record(tenant: string, id: string): void;
  /** Another tenant's data in `text` (raw response text), ignoring what `request` itself contains. */
  leaks(text: string, own: string, request: string): string[];
}

const escaped = (s: string): string => JSON.stringify(s).slice(1, -1);
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

export function createTenantWorld(server: TestServer): TenantWorld {
  const tenants = new Map<string, Promise<Tenant>>();
  /** Per tenant: the strings that are its data (ids lowercased). */
  const data = new Map<string, Set<string>>();
  const record = (tenant: string, id: string): void => {
    let set = data.get(tenant);
    if (!set) data.set(tenant, (set = new Set()));
    set.add(id.toLowerCase());
  };

  const make = async (name: string): Promise<Tenant> => {
    const marker = `mk-${hex(6)}`;
    const creator = `u-${marker}`;
    const queueView = server.deps.queue.scoped({ readTenant: name, writeTenant: name, createdBy: creator });
    const owner = await createTestKey(server.sql, name, ['tasks:read']);
    const tenant: Tenant = {
      name,
      marker,
      queue: `q-${marker}`,
      creator,
      taskIds: [],
      pendingId: '',
      cancelledId: '',
      workflowId: '',
      idempotencyKey: `idem-${hex(6)}`,
      ownerKey: owner.key,
      queueView,
      async enqueue() {
        const task = await queueView.enqueue({ name: 'demo.echo', args: [marker], kwargs: { m: marker }, queue: tenant.queue });
        tenant.taskIds.push(task.id);
        record(name, task.id);
        return task.id;
      },
    };
    record(name, marker);
    record(name, owner.id);
    const pending = await queueView.enqueue({ name: 'demo.echo', args: [marker], kwargs: { m: marker }, queue: tenant.queue, idempotencyKey: tenant.idempotencyKey });
    tenant.pendingId = pending.id;
    tenant.taskIds.push(pending.id);
    record(name, pending.id);
    tenant.cancelledId = await tenant.enqueue();
    await queueView.cancelTask(tenant.cancelledId);
    const step = { name: 'demo.echo', args: [marker], kwargs: { m: marker }, queue: tenant.queue };
    const workflow = await queueView.workflows.enqueue({ name: marker, steps: [{ ref: 'first', task: step }, { ref: 'second', task: step, dependsOn: ['first'] }] });
    tenant.workflowId = workflow.id;
    record(name, workflow.id);
    for (const s of workflow.steps) {
      tenant.taskIds.push(s.taskId);
      record(name, s.taskId);
    }
    // A schedule under the key of each seeded task's id: the isolation test addresses schedules by these keys.
    for (const key of [tenant.pendingId, tenant.cancelledId]) {
      const schedule = await queueView.schedules.upsert({ key, cron: '0 0 1 1 *', task: { name: 'demo.echo', args: [marker], kwargs: { m: marker }, queue: tenant.queue } });
      record(name, schedule.id);
    }
    return tenant;
  };

  return {
    tenant(name) {
      let made = tenants.get(name);
      if (!made) tenants.set(name, (made = make(name)));
      return made;
    },
    record,
    leaks(text, own, request) {
      const lower = text.toLowerCase();
      const asked = request.toLowerCase();
      // A foreign name inside the caller's own (t~acme in t~acme%) is looked for with the own name blanked out.
      const withoutOwn = [own, escaped(own)].reduce((t, form) => t.split(form).join('\u0000'), text);
      const found: string[] = [];
      for (const [tenant, strings] of data) {
        if (tenant === own) continue;
        // Names as written (t~ACME is another tenant than t~acme), raw or JSON-escaped.
        const hay = own.includes(tenant) ? withoutOwn : text;
        if (!request.includes(tenant) && (hay.includes(tenant) || hay.includes(escaped(tenant)))) found.push(`tenant name ${tenant}`);
        // Ids and markers (hex, dashes) in any case.
        for (const s of strings) if (!asked.includes(s) && lower.includes(s)) found.push(`${s} of ${tenant}`);
      }
      return found;
    },
  };
}
