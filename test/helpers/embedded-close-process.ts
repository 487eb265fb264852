/**
 * A program that embeds taskwire's core the way docs/deploy.md's "Inside your own program" shows:
 * createDeps, a runner and the maintenance parts started, one task run, then only `deps.close()`.
 * It must then exit by itself (nothing here calls process.exit): a part left running on the closed
 * pool kept Node alive and logged CONNECTION_ENDED every few seconds. Prints `closed` once close()
 * resolved. Configured from the environment (DATABASE_URL); its tasks are the built-in examples.
 */
import { loadConfig } from '../../src/config.js';
import { createDeps } from '../../src/deps.js';
import { createLogger } from '../../src/logger.js';
import { startServices } from '../../src/service.js';

const config = loadConfig({ ...process.env, MAINTENANCE_INTERVAL_MS: '100' });
if (!config.databaseUrl) throw new Error('embedded-close-process: DATABASE_URL is required');
// Warnings and errors on stderr: the test fails on any (a part that outlived the pool logs one).
const deps = await createDeps(config, { databaseUrl: config.databaseUrl, log: createLogger('warn') });
const runner = deps.createRunner({ pollIntervalMs: 50 });
await startServices([runner, deps.rescuer, deps.cleaner, deps.bulkActionRunner, deps.scheduler]);
const task = await deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] });
let status: string | undefined;
for (let i = 0; i < 400 && status !== 'SUCCEEDED'; i++) {
  status = (await deps.queue.getTask(task.id))?.status;
  if (status !== 'SUCCEEDED') await new Promise((resolve) => setTimeout(resolve, 25));
}
if (status !== 'SUCCEEDED') process.stderr.write(`the task is ${status}, not SUCCEEDED\n`);
await deps.close();
process.stdout.write('closed\n');
