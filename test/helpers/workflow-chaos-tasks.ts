/**
 * The task of the workflow chaos test (test/reliability/workflow-chaos.test.ts), loaded by its
 * worker child processes through TASK_MODULES and registered in the test process too.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';

/** Path for TASK_MODULES. */
export const WORKFLOW_CHAOS_TASKS = fileURLToPath(import.meta.url);

/** Sleeps `ms` (honouring its signal), then fails when `fail` is set, else returns how many parents it read. */
export const chaosStep: TaskDefinition = defineTask({
  name: 'chaos.step',
  args: z.tuple([z.number().int().min(0), z.boolean()]),
  run: async ([ms, fail], ctx) => {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))), { once: true });
    });
    if (fail) throw new Error('chaos: failing on purpose');
    return { parents: Object.keys(ctx.dependencies).length };
  },
});
