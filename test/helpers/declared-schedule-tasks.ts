/**
 * A task module with schedules declared beside its task (defineTask's `schedule`), loaded by
 * `taskwire worker` through TASK_MODULES in test/cli/declared-schedules-process.test.ts.
 */
import { fileURLToPath } from 'node:url';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';

/** Path for TASK_MODULES. */
export const DECLARED_SCHEDULE_TASKS = fileURLToPath(import.meta.url);

export const nightly: TaskDefinition = defineTask({
  name: 'declared.nightly',
  queue: 'declared',
  run: () => 'ran',
  schedule: [
    { key: 'declared-nightly', cron: '0 4 * * *', timezone: 'America/New_York', args: [1] },
    { key: 'declared-hourly', cron: '15 * * * *', overlap: 'SKIP' },
  ],
});
