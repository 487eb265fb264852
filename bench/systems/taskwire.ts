import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { decodeEvents, EVENTS_CHANNEL } from '../../src/queue/events.js';
import { defineTask, type TaskContext } from '../../src/worker/define-task.js';
import { copysign, output } from '../../src/worker/examples.js';
import { createRegistry } from '../../src/worker/registry.js';
import type { Runner } from '../../src/worker/runner.js';
import { createObserver } from './observer.js';
import { CONCURRENCY, type QueueSystem } from './types.js';

export const NOOP_TASK = 'bench.noop';
/** bench.stream(count, perSecond): writes `count` output chunks `{i, t}` at `perSecond`; `t` is the wall-clock ms of the write. */
export const STREAM_TASK = 'bench.stream';

/**
 * Output at a steady rate finer than a timer can space single chunks (2,000/s is one every
 * 0.5 ms; a timer fires at most about once a millisecond): every tick it writes the chunks
 * due by an absolute schedule, each stamped with the wall-clock time of its own `ctx.output`
 * call, so the rate holds however late a tick fires and latency is measured from each write.
 * The tick is one 1 ms interval timer, not a `delay(1, { signal })` per tick: on the bench's
 * 2-core VM a wake-up costs ~50–100 µs of CPU, and the promise timer with its abort listener
 * ~40 µs more than the interval (~4 % of a core at ~1,000 ticks/s, taken from the same 2 cores
 * as the server and the subscribers). A cancel still ends it within a tick.
 */
const stream = defineTask({
  name: STREAM_TASK,
  run: (args, ctx) => {
    const [count, perSecond] = args as [number, number];
    const t0 = performance.now();
    let i = 0;
    return new Promise<{ count: number }>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const tick = (): void => {
        if (ctx.signal.aborted) {
          clearInterval(timer);
          reject(ctx.signal.reason);
          return;
        }
        const due = Math.min(count, Math.floor(((performance.now() - t0) * perSecond) / 1000) + 1);
        for (; i < due; i++) void ctx.output({ i: i + 1, t: performance.timeOrigin + performance.now() });
        if (i < count) return;
        clearInterval(timer);
        resolve({ count });
      };
      tick();
      if (i < count && !ctx.signal.aborted) timer = setInterval(tick, 1);
    });
  },
});

export interface TaskwireSystem extends QueueSystem {
  /**
   * As QueueSystem's, the handler also given the attempt's context (bench/tools/drain-cost.ts snoozes
   * with it); what it returns, when not undefined, is the task's result (null otherwise).
   */
  startWorker(onRun: (id: string, seq: number, ctx?: TaskContext<unknown>) => unknown): Promise<void>;
  deps: Deps;
  /** Bytes of the event log (`task_events` with its indexes and TOAST) and its rows. */
  eventLogSize(): Promise<{ bytes: number; events: number }>;
}

/**
 * taskwire through its core API with default settings (`loadConfig({})`), a registry
 * holding one no-op task without an argument schema (plus the output-streaming task above and
 * the examples `math.copysign` and `demo.output`, for the event-log scenarios), and a runner of
 * concurrency 10. `env` overrides settings as environment variables would (e.g. AUTH_MODE=on).
 */
export async function createTaskwireSystem(url: string, env: Readonly<Record<string, string>> = {}): Promise<TaskwireSystem> {
  let onRun: (id: string, seq: number, ctx?: TaskContext<unknown>) => unknown = () => undefined;
  const noop = defineTask({
    name: NOOP_TASK,
    run: (args, ctx) => onRun(ctx.taskId, args[0] as number, ctx) ?? null,
  });
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const deps = await createDeps(config, { databaseUrl: url, log: silentLogger, registry: createRegistry([noop, stream, copysign, output]) });
  const observer = createObserver(url);
  let runner: Runner | undefined;
  return {
    deps,
    async enqueue(seq) {
      return (await deps.queue.enqueue({ name: NOOP_TASK, args: [seq] })).id;
    },
    async enqueueMany(seqs) {
      return (await deps.queue.enqueueMany(seqs.map((seq) => ({ name: NOOP_TASK, args: [seq] })))).length;
    },
    async startWorker(handler) {
      onRun = handler;
      runner = deps.createRunner({ concurrency: CONCURRENCY });
      await runner.start();
    },
    async stopWorker() {
      await runner?.stop();
      runner = undefined;
    },
    async unfinished() {
      // Walks tasks_status_not_succeeded_idx, so the count stays cheap with a million finished rows present.
      const [row] = await observer.sql`SELECT count(*)::int AS n FROM tasks WHERE status IN ('PENDING', 'RUNNING', 'RETRYING')`;
      return Number(row?.n);
    },
    async watchFinished(onFinished) {
      await observer.listen(EVENTS_CHANNEL, (payload) => {
        for (const e of decodeEvents(payload)) if (e.status === 'SUCCEEDED') onFinished(e.id);
      });
    },
    async eventLogSize() {
      const [row] = await observer.sql`
        SELECT pg_total_relation_size('task_events')::float8 AS bytes, (SELECT count(*) FROM task_events)::float8 AS events`;
      return { bytes: Number(row?.bytes), events: Number(row?.events) };
    },
    async close() {
      await runner?.stop();
      await observer.close();
      await deps.close();
    },
  };
}
