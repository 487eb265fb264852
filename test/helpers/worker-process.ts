/**
 * A taskwire worker in its own process, for tests: `node --import tsx test/helpers/worker-process.ts`
 * (tsx 4 on Node 20.6+: `--import tsx` registers its ESM loader; the older `--loader tsx` is deprecated).
 *
 * Configured like the real worker, from the environment (DATABASE_URL, TASK_MODULES,
 * WORKER_CONCURRENCY, LEASE_MS, HEARTBEAT_MS, WORKER_POLL_INTERVAL_MS, SHUTDOWN_GRACE_MS …).
 * Reports over IPC (and one line on stdout for people): `{type: 'ready', workerId, pid}` once
 * it listens, `{type: 'stopped', finished}` (tasks whose run it ended) after a graceful stop.
 * SIGTERM stops it the way the CLI does (runner.stop(): finish or release running tasks), then it exits by itself:
 * nothing calls process.exit, so a timer or socket left open shows up as a process that
 * does not end.
 */
import { loadConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';

export type WorkerMessage =
  | { type: 'ready'; workerId: string; pid: number }
  | { type: 'stopped'; workerId: string; finished: number };

function report(message: WorkerMessage): Promise<void> {
  process.stdout.write(`${JSON.stringify(message)}\n`);
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
if (!config.databaseUrl) throw new Error('worker-process: DATABASE_URL is required');
const deps = await createDeps(config, { databaseUrl: config.databaseUrl, log: silentLogger });
// TEST_ABANDON_AFTER_MS: RunnerOptions.abandonAfterMs, which no environment variable of the real worker sets
// (default 5 s): a test of a handler that ignores its abort waits that long for the slot to come back.
const abandonAfterMs = process.env.TEST_ABANDON_AFTER_MS ? Number(process.env.TEST_ABANDON_AFTER_MS) : undefined;
const runner = deps.createRunner(abandonAfterMs === undefined ? {} : { abandonAfterMs });
let finished = 0;
// Tasks whose run this process ended. Not a claimed-ahead task handed back unstarted ('released':
// it waited past its second for a slot, which a loaded machine makes common): another worker runs it.
runner.on('finished', (_task, outcome) => {
  if (outcome !== 'released') finished += 1;
});
await runner.start();

process.once('SIGTERM', () => {
  void (async () => {
    await runner.stop();
    await deps.close();
    await report({ type: 'stopped', workerId: runner.workerId, finished });
    // The IPC channel is the last thing holding the process open.
    if (process.connected) process.disconnect();
  })();
});
await report({ type: 'ready', workerId: runner.workerId, pid: process.pid });
