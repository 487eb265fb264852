import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.js';
import { clipText } from '../queue/json.js';
import type { Task } from '../queue/task.js';
import type { Outcome } from '../worker/execute-task.js';
import type { Runner } from '../worker/runner.js';

/** Claims remembered for their duration; beyond this many the oldest is forgotten. */
const MAX_TRACKED = 100_000;

/** Characters of an error message a failure line keeps (the task's `errors` keep it whole). */
export const MAX_LOGGED_ERROR = 200;

/** Clipped to `max` characters, an ellipsis marking the cut; never a lone half of a surrogate pair. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${clipText(text, max - 1)}…`;
}

/**
 * What a failure line adds: the error's type (`TimeoutError` for a timeout) and message (clipped),
 * and whether the task runs again (retryable and attempts left; a cancellation asked for meanwhile
 * still ends it).
 */
function failureFields(task: Task, detail: Outcome | undefined): Record<string, unknown> {
  if (detail?.kind !== 'failed') return {};
  return {
    errorType: detail.error.exceptionType,
    error: clip(detail.error.message, MAX_LOGGED_ERROR),
    willRetry: detail.retryable && task.attempts < task.maxAttempts,
  };
}

/**
 * One log line when a runner starts an attempt (debug) and one when it ends (info; warn for a
 * failed or lost attempt), each with `taskId`, `workerId`, `name`, `queue` and `attempt`, so
 * `grep <task id>` finds a task's whole story across processes. A failed attempt's line also
 * has `errorType`, `error` (at most MAX_LOGGED_ERROR characters) and `willRetry`.
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
  const onFinished = (task: Task, outcome: string, detail?: Outcome): void => {
    const key = `${task.id}:${task.attempts}`;
    const at = claims.get(key);
    claims.delete(key);
    const durationMs = at === undefined ? undefined : Math.round((performance.now() - at) * 10) / 10;
    const line = { ...fields(task), outcome, durationMs, maxAttempts: task.maxAttempts, ...failureFields(task, detail) };
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
