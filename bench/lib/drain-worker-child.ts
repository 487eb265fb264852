/**
 * One taskwire worker process for bench/scenarios/drain-processes.ts (m):
 * `node --import tsx bench/lib/drain-worker-child.ts`. It sends 'ready' once loaded, and then serves
 * one pass after another (a process start costs seconds on a loaded machine; the scenario pays it
 * once, not per pass):
 * - 'open' {url}: makes the benchmark's taskwire system on that database (default settings, the
 *   no-op task) and opens its pool's connections, so the first claims after the cue do not wait
 *   for them; answers 'opened'. The runner is not started.
 * - 'start': starts a runner of concurrency 10; while it runs the process reports how many handler
 *   runs it has seen (at most every 5 ms, only when the count changed: a message per task would cost
 *   the drain more than it measures).
 * - 'stop': stops the runner, closes the system and answers with the id of every run, repeats
 *   included, for the parent's exactly-once check across processes.
 * - 'exit': exits (writing its CPU profile when run with --cpu-prof).
 */
import { createTaskwireSystem, type TaskwireSystem } from '../systems/taskwire.js';

export type DrainWorkerRequest = { type: 'open'; url: string } | { type: 'start' } | { type: 'stop' } | { type: 'exit' };
export type DrainWorkerReply =
  | { type: 'ready' }
  | { type: 'opened' }
  | { type: 'started' }
  | { type: 'progress'; ran: number }
  | { type: 'stopped'; ids: string[] }
  | { type: 'error'; error: string };

const PROGRESS_EVERY_MS = 5;
/** The pool's default size (DB_POOL_SIZE). */
const WARM_CONNECTIONS = 10;

const send = (reply: DrainWorkerReply): void => {
  process.send?.(reply);
};
const fail = (error: unknown): void => send({ type: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });

let system: TaskwireSystem | undefined;
let ids: string[] = [];
let reported = 0;
let progress: NodeJS.Timeout | undefined;

async function open(url: string): Promise<void> {
  system = await createTaskwireSystem(url);
  ids = [];
  reported = 0;
  // postgres.js opens connections on demand: ten concurrent queries open the pool's ten.
  const sql = system.deps.db.sql;
  await Promise.all(Array.from({ length: WARM_CONNECTIONS }, () => sql`SELECT pg_sleep(0.02)`));
}

async function start(): Promise<void> {
  if (!system) throw new Error("'start' before 'open'");
  await system.startWorker((id) => {
    ids.push(id);
  });
  progress = setInterval(() => {
    if (ids.length === reported) return;
    reported = ids.length;
    send({ type: 'progress', ran: reported });
  }, PROGRESS_EVERY_MS);
}

async function stop(): Promise<string[]> {
  clearInterval(progress);
  await system?.close();
  system = undefined;
  return ids;
}

process.on('message', (raw) => {
  const request = raw as DrainWorkerRequest;
  if (request.type === 'open') open(request.url).then(() => send({ type: 'opened' }), fail);
  else if (request.type === 'start') start().then(() => send({ type: 'started' }), fail);
  else if (request.type === 'stop') stop().then((ran) => send({ type: 'stopped', ids: ran }), fail);
  else process.exit(0);
});
send({ type: 'ready' });
