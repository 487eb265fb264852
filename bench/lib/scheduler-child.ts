/**
 * One taskwire scheduler in its own process, for bench/scenarios/schedule-fire.ts:
 * `node --import tsx bench/lib/scheduler-child.ts <databaseUrl>`. Sends 'ready' over IPC once it
 * listens; SIGTERM stops it and it exits by itself.
 */
import { createDb } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { createScheduler } from '../../src/queue/schedules/scheduler.js';

const url = process.argv[2];
if (!url) throw new Error('scheduler-child: the database URL is required');
const db = createDb(url, { max: 4 });
const scheduler = createScheduler({ sql: db.sql, log: createLogger('warn'), pollIntervalMs: 1000 });
await scheduler.start();
process.send?.('ready');
process.once('SIGTERM', () => {
  void (async () => {
    await scheduler.stop();
    await db.close();
    process.disconnect?.();
  })();
});
