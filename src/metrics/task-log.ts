import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.js';
import type { Task } from '../queue/task.js';
import type { Runner } from '../worker/runner.js';

/** Claims remembered for their duration; beyond this many the oldest is forgotten. */
const MAX_TRACKED = 100_000;

/**
 * One log line when a runner starts an attempt (debug) and one when it ends (info; warn for a
 * failed or lost attempt), each with `taskId`, `workerId`, `name`, `queue` and `attempt`, so
 * `grep <task id>` finds a task's whole story across processes.
 */
export function logTaskLifecycle(runner: Runner, log: Logger): TaskLifecycleLog {
  const child = log.child({ workerId: runner.workerId });
  const claims = new Map<string, number>();
  const fields = (task: Task) => ({ taskId: task.id, name: task.name, queue: task.queue, attempt: task.attempts });

  const onClaimed = (tasks: Task[]): void => {
    const now = performance.now();
    for (const task of tasks) {
      claims.set(`${task.id}:${task.attempts}`, now);
      if (claims.size > MAX_TRACKED) claims.delete(claims.keys().next().value as string);
      child.debug(fields(task), 'task started');
    }
  };
  const onFinished = (task: Task, outcome: string): void => {
    const key = `${task.id}:${task.attempts}`;
    const at = claims.get(key);
    claims.delete(key);
    const durationMs = at === undefined ? undefined : Math.round((performance.now() - at) * 10) / 10;
    const line = { ...fields(task), outcome, durationMs, maxAttempts: task.maxAttempts };
    if (outcome === 'failed' || outcome === 'lost') child.warn(line, `task ${outcome}`);
    else child.info(line, `task ${outcome}`);
  };
  runner.on('claimed', onClaimed);
  runner.on('finished', onFinished);
  return {
    inHand: () => [...claims.keys()],
    detach() {
      runner.off('claimed', onClaimed);
      runner.off('finished', onFinished);
    },
  };
}

export interface TaskLifecycleLog {
  /** Attempts claimed and not yet finished, as `taskId:attempt` (at most MAX_TRACKED). */
  inHand(): string[];
  detach(): void;
}
