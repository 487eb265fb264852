import type { ChildProcess } from 'node:child_process';
import { askEach, exitChild, forkChild, replyOf } from '../lib/child-ipc.js';
import type { DrainWorkerReply, DrainWorkerRequest } from '../lib/drain-worker-child.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { ExecutionCounter, range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem } from '../systems/taskwire.js';

/** Worker processes of pass B (issue 17: ≥ 1.5× one process); the metric names in lib/metrics.ts say 4. */
export const DRAIN_PROCESSES = 4;

/** A worker process of one pass: its IPC, and the handler runs it has reported so far. */
interface WorkerProcess {
  child: ChildProcess;
  ran: number;
}

/** Resolves with the first reply of `type` from `child`; rejects on an 'error' reply or an exit. */
function reply<T extends DrainWorkerReply['type']>(child: ChildProcess, type: T): Promise<Extract<DrainWorkerReply, { type: T }>> {
  return replyOf<DrainWorkerReply, T>(child, type, 'drain worker process');
}

/** Starts `count` worker processes (loaded, no database yet); kills them all if one fails to start. */
async function startWorkers(job: ChildJob, count: number): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  try {
    await Promise.all(
      range(0, count).map(async () => {
        const child = forkChild({ root: job.root, file: 'bench/lib/drain-worker-child.ts', profileDir: job.profileDir, profileName: 'worker' });
        const w: WorkerProcess = { child, ran: 0 };
        workers.push(w);
        child.on('message', (m) => {
          const r = m as DrainWorkerReply;
          if (r.type === 'progress') w.ran = r.ran;
        });
        await reply(child, 'ready');
      }),
    );
  } catch (error) {
    for (const w of workers) w.child.kill('SIGKILL');
    throw error;
  }
  return workers;
}

/** Sends `request` to every worker and resolves with each one's `type` answer. */
function each<T extends DrainWorkerReply['type']>(workers: WorkerProcess[], request: DrainWorkerRequest, type: T): Promise<Extract<DrainWorkerReply, { type: T }>[]> {
  return askEach<DrainWorkerReply, T>(
    workers.map((w) => w.child),
    type,
    () => request,
    'drain worker process',
  );
}

/** Asks every worker process to exit (they write their CPU profiles on the way out); kills any that hangs. */
async function exitWorkers(workers: WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => exitChild(w.child, { type: 'exit' } satisfies DrainWorkerRequest)));
}

/**
 * One pass: a fresh database, `n` no-op tasks bulk-enqueued, `workers` opened on it and ready
 * (runner made on cue, pool connected, not claiming); the clock runs from the start cue until
 * every task ran and no unfinished task is left (the database's view, as in (a)). Then each process
 * hands over the ids it ran and the pass fails unless each ran exactly once. Returns tasks/s.
 */
async function pass(job: ChildJob, n: number, workers: WorkerProcess[]): Promise<number> {
  const db = await freshDatabase(job.adminUrl, job.template);
  try {
    const core = await createTaskwireSystem(db.url);
    try {
      const added = await core.enqueueMany(range(0, n));
      if (added !== n) throw new Error(`bulk enqueue added ${added} of ${n}`);
      for (const w of workers) w.ran = 0;
      await each(workers, { type: 'open', url: db.url }, 'opened');
      let stopped = false;
      try {
        const t0 = performance.now();
        await each(workers, { type: 'start' }, 'started');
        // The processes report their runs every few ms; only then ask the database, as drainOnce does.
        await waitUntil(() => workers.reduce((sum, w) => sum + w.ran, 0) >= n, {
          timeoutMs: 60_000 + n * 5,
          intervalMs: 1,
          what: `${n} runs over ${workers.length} worker process(es)`,
        });
        await waitUntil(async () => (await core.unfinished()) === 0, { timeoutMs: 60_000, intervalMs: 2, what: 'the last completions to commit' });
        const seconds = (performance.now() - t0) / 1000;
        const runs = new ExecutionCounter();
        stopped = true;
        for (const answer of await each(workers, { type: 'stop' }, 'stopped')) for (const id of answer.ids) runs.record(id);
        runs.assertExactlyOnce(n, `drain over ${workers.length} worker process(es)`);
        return n / seconds;
      } finally {
        if (!stopped) await each(workers, { type: 'stop' }, 'stopped').catch(() => undefined);
      }
    } finally {
      await core.close();
    }
  } finally {
    await db.drop();
  }
}

/**
 * (m) drain with several worker processes, taskwire only: per repetition, `drainTasks` no-op
 * tasks drained by one worker process (A) and, in another fresh database, by
 * `DRAIN_PROCESSES` processes (B), each of concurrency 10 with default settings; the order
 * of A and B alternates between repetitions. The processes are started once and serve every pass
 * (pass A: the first of them), each opening that pass's database before its clock. Recorded: both rates and B ÷ A of the repetition.
 */
export async function drainProcessesScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.drainTasks;
  const many = DRAIN_PROCESSES;
  // Started once for the whole scenario; pass A uses the first of them.
  const workers = await startWorkers(job, many);
  try {
    for (let rep = 1; rep <= job.repeat; rep++) {
      const order = rep % 2 === 1 ? [1, many] : [many, 1];
      const rates = new Map<number, number>();
      for (const processes of order) rates.set(processes, await pass(job, n, workers.slice(0, processes)));
      const one = rates.get(1) as number;
      const several = rates.get(many) as number;
      rec.add(M.drainOneProcess, 'jobs/s', one);
      rec.add(M.drainManyProcesses, 'jobs/s', several);
      rec.add(M.drainProcessesRatio, '×', several / one);
    }
  } finally {
    await exitWorkers(workers);
  }
  rec.notes.push(`drain-processes: ${n.toLocaleString('en-US')} tasks, 1 worker process vs ${many} (concurrency 10 each), order alternating per repetition`);
}
