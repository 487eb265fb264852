import { performance } from 'node:perf_hooks';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { EnqueueManyOptions, EnqueueOptions, Queue, Task } from '../queue/index.js';
import { rescueResult, type Rescuer } from '../queue/maintenance/rescuer.js';
import type { Outcome } from '../worker/execute-task.js';
import type { Runner } from '../worker/runner.js';
import { createQueueLabeler, MAX_QUEUE_LABELS } from './queue-labels.js';

/** Upper bounds of the task duration buckets, in seconds: 5 ms to 10 min. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

/** Claims not yet finished are remembered for their duration; beyond this many the oldest is forgotten. */
const MAX_TRACKED = 100_000;

/**
 * Most distinct `exception` label values of taskwire_task_failures_total in one process, besides
 * `(other)`: an exception type is the handler's to name (an error's `name`), so it is bounded as
 * queue names are.
 */
export const MAX_EXCEPTION_LABELS = 50;

export interface TaskMetrics {
  /** The same queue, counting the tasks its enqueue calls create. */
  instrumentQueue(queue: Queue): Queue;
  /** Counts the runner's claimed attempts and their outcomes and durations; returns a detach function. */
  observeRunner(runner: Runner): () => void;
  /** Counts the tasks the rescuer takes back from lost workers (which count nothing); returns a detach function. */
  observeRescuer(rescuer: Pick<Rescuer, 'onRescued'>): () => void;
}

export interface TaskMetricsOptions {
  /**
   * Most queues counted under their own name (default MAX_QUEUE_LABELS, 200): the first this many
   * queues the process counts keep their name in every counter; later ones are counted as `(other)`.
   */
  maxQueueLabels?: number;
}

/**
 * The task counters and the duration histogram of one process (Prometheus convention: each
 * process counts what it did; sum over processes for the cluster). The `queue` label is bounded
 * (queue-labels.ts): one labeler for the three counters, so a queue has the same label in each.
 */
export function createTaskMetrics(registry: Registry, options: TaskMetricsOptions = {}): TaskMetrics {
  const registers = [registry];
  const queueLabel = createQueueLabeler(options.maxQueueLabels ?? MAX_QUEUE_LABELS);
  const enqueued = new Counter({
    name: 'taskwire_tasks_enqueued_total',
    help: 'Tasks created by enqueue calls in this process (an idempotent repeat is not counted).',
    labelNames: ['name', 'queue'],
    registers,
  });
  const started = new Counter({
    name: 'taskwire_tasks_started_total',
    help: 'Attempts claimed and started by this process\'s worker.',
    labelNames: ['name', 'queue'],
    registers,
  });
  const finished = new Counter({
    name: 'taskwire_tasks_finished_total',
    help: 'Attempts ended in this process\'s worker, by outcome: succeeded, failed (retried or final), cancelled, snoozed (to run again later), released (handed back unfinished: shutdown, or claimed ahead and not started), lost (lease taken back).',
    labelNames: ['name', 'queue', 'outcome'],
    registers,
  });
  const rescued = new Counter({
    name: 'taskwire_tasks_rescued_total',
    help: 'Tasks this process\'s rescuer took back from workers that stopped renewing their lease (killed, hung, cut off), by result: retrying, failed, cancelled (the attempt lost), released (claimed ahead, given back unstarted).',
    labelNames: ['name', 'queue', 'result'],
    registers,
  });
  // "Why is this queue failing" without the log or SQL: failed attempts by what they threw.
  const exceptionLabel = createQueueLabeler(MAX_EXCEPTION_LABELS);
  const failures = new Counter({
    name: 'taskwire_task_failures_total',
    help: "Failed attempts in this process's worker by the error's type (exceptionType: the error's name, TimeoutError, InvalidArguments …; the first 50 types keep their name, later ones count as (other)). Retried and final failures alike.",
    labelNames: ['name', 'queue', 'exception'],
    registers,
  });
  const duration = new Histogram({
    name: 'taskwire_task_duration_seconds',
    help: 'Run time of attempts in this process\'s worker, from claim to recorded outcome, in seconds.',
    labelNames: ['name'],
    buckets: [...DURATION_BUCKETS],
    registers,
  });

  /**
   * Counts the tasks a call stored: not a task its idempotency key named from before (the queue says
   * which, checkExisting / onExisting), nor a task twice for a key repeated within the call. (It
   * compared the task id's time with this process's clock, and counted repeats through a server
   * whose clock was off, or had stepped back.)
   */
  function countNew(tasks: readonly Task[], existing: ReadonlySet<number>): void {
    const counted = new Set<string>();
    tasks.forEach((task, i) => {
      if (existing.has(i) || counted.has(task.id)) return;
      counted.add(task.id);
      enqueued.inc({ name: task.name, queue: queueLabel(task.queue) });
    });
  }

  const metrics: TaskMetrics = {
    instrumentQueue(queue) {
      return {
        ...queue,
        // A queue scoped to a tenant (one per authenticated request) counts its enqueues too.
        scoped: (scope) => metrics.instrumentQueue(queue.scoped(scope)),
        async enqueue(input, options?: EnqueueOptions) {
          const existing = new Set<number>();
          // Only a key can name a task from before: an unkeyed enqueue (the hot path) is passed on as it is.
          const listened: EnqueueOptions | undefined =
            input.idempotencyKey === undefined
              ? options
              : {
                  ...options,
                  checkExisting: (stored) => {
                    existing.add(0);
                    options?.checkExisting?.(stored);
                  },
                };
          const task = await queue.enqueue(input, listened);
          // Inside a caller's transaction the task exists only if it commits: not counted.
          if (!options?.tx) countNew([task], existing);
          return task;
        },
        async enqueueMany(inputs, options?: EnqueueManyOptions) {
          const existing = new Set<number>();
          const listened: EnqueueManyOptions | undefined = !inputs.some((i) => i.idempotencyKey !== undefined)
            ? options
            : {
                ...options,
                onExisting: (stored, i) => {
                  existing.add(i);
                  options?.onExisting?.(stored, i);
                },
              };
          const tasks = await queue.enqueueMany(inputs, listened);
          if (!options?.tx) countNew(tasks, existing);
          return tasks;
        },
      };
    },
    observeRescuer(rescuer) {
      return rescuer.onRescued((tasks) => {
        for (const task of tasks) rescued.inc({ name: task.name, queue: queueLabel(task.queue), result: rescueResult(task) });
      });
    },
    observeRunner(runner) {
      // Keyed by attempt: the same task can be claimed again by this worker after losing its lease.
      const claims = new Map<string, number>();
      const onClaimed = (tasks: Task[]): void => {
        const now = performance.now();
        for (const task of tasks) {
          started.inc({ name: task.name, queue: queueLabel(task.queue) });
          claims.set(`${task.id}:${task.attempts}`, now);
          if (claims.size > MAX_TRACKED) claims.delete(claims.keys().next().value as string);
        }
      };
      const onFinished = (task: Task, outcome: string, detail?: Outcome): void => {
        finished.inc({ name: task.name, queue: queueLabel(task.queue), outcome });
        // A failure the database holds: one not written is counted `lost` above, as the log says.
        if (outcome === 'failed' && detail?.kind === 'failed') failures.inc({ name: task.name, queue: queueLabel(task.queue), exception: exceptionLabel(detail.error.exceptionType) });
        const key = `${task.id}:${task.attempts}`;
        const at = claims.get(key);
        claims.delete(key);
        if (at !== undefined) duration.observe({ name: task.name }, (performance.now() - at) / 1000);
      };
      runner.on('claimed', onClaimed);
      runner.on('finished', onFinished);
      return () => {
        runner.off('claimed', onClaimed);
        runner.off('finished', onFinished);
      };
    },
  };
  return metrics;
}
