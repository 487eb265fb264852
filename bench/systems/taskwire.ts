import { loadConfig } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { decodeEvents, EVENTS_CHANNEL } from '../../src/queue/events.js';
import { defineTask } from '../../src/worker/define-task.js';
import { createRegistry } from '../../src/worker/registry.js';
import type { Runner } from '../../src/worker/runner.js';
import { createObserver } from './observer.js';
import { CONCURRENCY, type QueueSystem } from './types.js';

export const NOOP_TASK = 'bench.noop';

export interface TaskwireSystem extends QueueSystem {
  deps: Deps;
}

/**
 * taskwire through its core API with default settings (`loadConfig({})`), a registry
 * holding one no-op task without an argument schema, and a runner of concurrency 10.
 */
export async function createTaskwireSystem(url: string): Promise<TaskwireSystem> {
  let onRun: (id: string, seq: number) => void = () => undefined;
  const noop = defineTask({
    name: NOOP_TASK,
    run: (args, ctx) => {
      onRun(ctx.taskId, args[0] as number);
      return null;
    },
  });
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const deps = await createDeps(config, { databaseUrl: url, log: silentLogger, registry: createRegistry([noop]) });
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
      // Walks tasks_status_id_idx, so the count stays cheap with a million finished rows present.
      const [row] = await observer.sql`SELECT count(*)::int AS n FROM tasks WHERE status IN ('PENDING', 'RUNNING', 'RETRYING')`;
      return Number(row?.n);
    },
    async watchFinished(onFinished) {
      await observer.listen(EVENTS_CHANNEL, (payload) => {
        for (const e of decodeEvents(payload)) if (e.status === 'SUCCEEDED') onFinished(e.id);
      });
    },
    async close() {
      await runner?.stop();
      await observer.close();
      await deps.close();
    },
  };
}
