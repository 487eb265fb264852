import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
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
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const r = m as DrainWorkerReply;
      if (r.type === 'error') reject(new Error(`drain worker process: ${r.error}`));
      else if (r.type === type) resolve(r as Extract<DrainWorkerReply, { type: T }>);
      else return;
      cleanup();
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`drain worker process exited (${code}) before '${type}'`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

async function startWorkers(job: ChildJob, url: string, count: number): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  try {
    await Promise.all(
      range(0, count).map(async () => {
        const profile = job.profileDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(job.profileDir, 'worker')] : [];
        const child = fork(path.join(job.root, 'bench/lib/drain-worker-child.ts'), [url], {
          execArgv: ['--import', 'tsx', ...profile],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
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

/** Stops every worker process and returns the ids each ran (repeats included). */
async function stopWorkers(workers: WorkerProcess[]): Promise<string[]> {
  const lists = await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return [];
      const stopped = reply(w.child, 'stopped');
      const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
      w.child.send({ type: 'stop' } satisfies DrainWorkerRequest);
      const timer = setTimeout(() => w.child.kill('SIGKILL'), 15_000);
      try {
        return (await stopped).ids;
      } finally {
        await exited;
        clearTimeout(timer);
      }
    }),
  );
  return lists.flat();
}

/**
 * One pass: a fresh database, `n` no-op tasks bulk-enqueued, `processes` worker processes
 * started and ready (runner made, pool connected, not claiming); the clock runs from the start
 * cue until every task ran and no unfinished task is left (the database's view, as in (a)).
 * Then each process hands over the ids it ran and the pass fails unless each ran exactly once.
 * Returns tasks/s.
 */
async function pass(job: ChildJob, n: number, processes: number): Promise<number> {
  const db = await freshDatabase(job.adminUrl, job.template);
  try {
    const core = await createTaskwireSystem(db.url);
    try {
      const added = await core.enqueueMany(range(0, n));
      if (added !== n) throw new Error(`bulk enqueue added ${added} of ${n}`);
      const workers = await startWorkers(job, db.url, processes);
      try {
        const t0 = performance.now();
        await Promise.all(
          workers.map((w) => {
            const started = reply(w.child, 'started');
            w.child.send({ type: 'start' } satisfies DrainWorkerRequest);
            return started;
          }),
        );
        // The processes report their runs every few ms; only then ask the database, as drainOnce does.
        await waitUntil(() => workers.reduce((sum, w) => sum + w.ran, 0) >= n, { timeoutMs: 60_000 + n * 5, intervalMs: 1, what: `${n} runs over ${processes} worker processes` });
        await waitUntil(async () => (await core.unfinished()) === 0, { timeoutMs: 60_000, intervalMs: 2, what: 'the last completions to commit' });
        const seconds = (performance.now() - t0) / 1000;
        const runs = new ExecutionCounter();
        for (const id of await stopWorkers(workers)) runs.record(id);
        runs.assertExactlyOnce(n, `drain over ${processes} worker process(es)`);
        return n / seconds;
      } finally {
        await stopWorkers(workers).catch(() => undefined);
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
 * of A and B alternates between repetitions. Recorded: both rates and B ÷ A of the repetition.
 */
export async function drainProcessesScenario(job: ChildJob, rec: Recorder): Promise<void> {
  const n = job.sizes.drainTasks;
  const many = DRAIN_PROCESSES;
  for (let rep = 1; rep <= job.repeat; rep++) {
    const order = rep % 2 === 1 ? [1, many] : [many, 1];
    const rates = new Map<number, number>();
    for (const processes of order) rates.set(processes, await pass(job, n, processes));
    const one = rates.get(1) as number;
    const several = rates.get(many) as number;
    rec.add(M.drainOneProcess, 'jobs/s', one);
    rec.add(M.drainManyProcesses, 'jobs/s', several);
    rec.add(M.drainProcessesRatio, '×', several / one);
  }
  rec.notes.push(`drain-processes: ${n.toLocaleString('en-US')} tasks, 1 worker process vs ${many} (concurrency 10 each), order alternating per repetition`);
}
