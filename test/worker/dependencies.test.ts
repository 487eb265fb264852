import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { createDependencyReader } from '../../src/worker/dependencies.js';
import { useQueueTestApp } from '../helpers/factories.js';
import { failStep, idsOf, succeedStep } from '../helpers/workflows.js';

const env = useQueueTestApp();

/** The pool, counting the statements sent through it. */
function counting(sql: Sql): { sql: Sql; count(): number } {
  let n = 0;
  const proxy = new Proxy(sql, {
    apply(target, thisArg, args) {
      n += 1;
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
    },
  });
  return { sql: proxy, count: () => n };
}

describe('createDependencyReader', () => {
  it('reads the parents of the attempts starting together in one query; a failed parent reads as null', async () => {
    const { sql, deps } = env.app;
    const s = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'demo.echo', args: [ref] }, dependsOn, onDependencyFailure: 'RUN_ANYWAY' as const });
    const wf = await deps.queue.workflows.enqueue({ steps: [s('a'), s('b'), s('x', ['a', 'b']), s('y', ['b'])] });
    const id = idsOf(wf);
    await succeedStep(sql, id.a as string, { n: 1 });
    await failStep(sql, id.b as string);
    const x = await deps.queue.getTask(id.x as string);
    const y = await deps.queue.getTask(id.y as string);
    const counter = counting(sql);
    const reader = createDependencyReader(counter.sql);
    const [forX, forY, forA] = await Promise.all([reader.read(x!), reader.read(y!), reader.read((await deps.queue.getTask(id.a as string))!)]);
    expect(forX).toEqual({ a: { n: 1 }, b: null });
    expect(forY).toEqual({ b: null });
    expect(forA).toEqual({});
    expect(counter.count()).toBe(1);
  });
});
