/**
 * One taskwire worker process for bench/scenarios/drain-processes.ts (m):
 * `node --import tsx bench/lib/drain-worker-child.ts <databaseUrl>`. It makes its runner
 * (concurrency 10, the benchmark's tasks, default settings) and sends 'ready' without starting it,
 * so every process of a pass is loaded and connected before the clock runs; 'start' starts the
 * runner. While it runs it reports how many handler runs it has seen (at most every 5 ms, only when
 * the count changed: a message per task would cost the drain more than it measures). 'stop' stops
 * the runner and answers with the id of every run, repeats included, for the parent's exactly-once
 * check across processes; then the process exits by itself.
 */
import { createTaskwireSystem } from '../systems/taskwire.js';

export type DrainWorkerRequest = { type: 'start' } | { type: 'stop' };
export type DrainWorkerReply =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'progress'; ran: number }
  | { type: 'stopped'; ids: string[] }
  | { type: 'error'; error: string };

const PROGRESS_EVERY_MS = 5;
/** The pool's default size (createDb). */
const WARM_CONNECTIONS = 10;

const url = process.argv[2];
if (!url) throw new Error('drain-worker-child: the database URL is required');
const send = (reply: DrainWorkerReply): void => {
  process.send?.(reply);
};

try {
  const system = await createTaskwireSystem(url);
  // Open the pool's connections now (postgres.js opens them on demand), so the first claims and
  // completions after the cue do not wait for connections: a process is ready when it says so.
  await Promise.all(Array.from({ length: WARM_CONNECTIONS }, () => system.deps.db.sql`SELECT pg_sleep(0.02)`));
  const ids: string[] = [];
  let reported = 0;
  let progress: NodeJS.Timeout | undefined;
  process.on('message', (raw) => {
    const request = raw as DrainWorkerRequest;
    if (request.type === 'start') {
      void system.startWorker((id) => ids.push(id)).then(
        () => {
          progress = setInterval(() => {
            if (ids.length === reported) return;
            reported = ids.length;
            send({ type: 'progress', ran: reported });
          }, PROGRESS_EVERY_MS);
          send({ type: 'started' });
        },
        (error: unknown) => send({ type: 'error', error: error instanceof Error ? error.message : String(error) }),
      );
    } else {
      void (async () => {
        clearInterval(progress);
        await system.close();
        send({ type: 'stopped', ids });
        process.disconnect?.();
      })();
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
