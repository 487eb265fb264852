import { test } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { useTestApp } from '../helpers/app.js';
import { insertTasks } from '../../src/queue/sql/insert-tasks.js';
import { prepareTask } from '../../src/queue/enqueue.js';

const ctx = useTestApp();

function pct(xs: number[], p: number) { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(3); }

test('probe enqueue latency', { timeout: 120_000 }, async () => {
  const { deps, sql } = ctx.app;
  const run = async (label: string, f: () => Promise<unknown>) => {
    const xs: number[] = [];
    for (let i = 0; i < 300; i++) {
      await delay(3);
      const t = performance.now();
      await f();
      xs.push(performance.now() - t);
    }
    console.log(`${label}: p50 ${pct(xs, 0.5)} p90 ${pct(xs, 0.9)} p99 ${pct(xs, 0.99)} ms`);
  };
  const catalog = (deps as any).registry;
  for (let round = 0; round < 2; round++) {
  await run('select 1', () => sql`select 1`);
  await run('queue.enqueue', () => deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] }));
  await run('raw insert tasks', () => sql`insert into tasks (id, name, args) values (gen_random_uuid(), 'math.copysign', '[1,-1]')`);
  await run('raw insert tasks+event', () => sql`with c as (insert into tasks (id, name, args) values (gen_random_uuid(), 'math.copysign', '[1,-1]') returning id, version, status, attempts) insert into task_events (task_id, version, type, status, attempt) select id, version, 'ENQUEUED', status, attempts from c`);
  await run('raw insert tasks+event+notify', () => sql`with c as (insert into tasks (id, name, args) values (gen_random_uuid(), 'math.copysign', '[1,-1]') returning id, version, status, attempts, queue), l as (insert into task_events (task_id, version, type, status, attempt) select id, version, 'ENQUEUED', status, attempts from c), n as (select pg_notify('taskwire_events', id::text) from c), w as (select pg_notify('taskwire_jobs', queue) from c) select (select count(*) from n) + (select count(*) from w)`);
  if (catalog) {
    const limits = { maxArgsBytes: 65536 };
    const row = prepareTask(catalog, { name: 'math.copysign', args: [1, -1] }, limits);
    let t = performance.now(); for (let i = 0; i < 1000; i++) prepareTask(catalog, { name: 'math.copysign', args: [1, -1] }, limits); console.log('prepareTask µs', ((performance.now() - t)));
    await run('insertTasks direct', () => insertTasks(sql, [prepareTask(catalog, { name: 'math.copysign', args: [1, -1] }, limits)]));
    await run('taskwire_enqueue fn min', () => sql`select * from taskwire_enqueue(${'{'+crypto.randomUUID()+'}'}::uuid[], null, 'math.copysign', null, 'default', null, 0::smallint, null, '[1,-1]'::jsonb, null, '{}'::jsonb, null, 1, null, null, null, null, null, null, null, null, null, 'default', null, null, null, null)`);
  } else console.log('no catalog', Object.keys(deps));
  }
});
