/**
 * A task module whose declared schedule names a time zone that does not exist: `taskwire worker`
 * loading it through TASK_MODULES must stop with one line (test/cli/declared-schedules-process.test.ts).
 */
import { fileURLToPath } from 'node:url';
import { defineTask, type TaskDefinition } from '../../src/worker/define-task.js';

/** Path for TASK_MODULES. */
export const BAD_DECLARED_SCHEDULE_TASKS = fileURLToPath(import.meta.url);

export const badSched: TaskDefinition = defineTask({
  name: 'bad.sched',
  run: () => 'never',
  schedule: { cron: '0 3 * * *', timezone: 'Mars/Olympus' },
});
