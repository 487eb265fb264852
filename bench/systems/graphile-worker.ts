import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { createObserver, FINISHED_CHANNEL } from './observer.js';
import { CONCURRENCY, type QueueSystem } from './types.js';

const TASK = 'noop';
const silent = new Logger(() => () => undefined);

/**
 * graphile-worker's batching, as in its performance documentation
 * (https://worker.graphile.org/docs/performance): a local queue that locks a batch of
 * jobs per fetch, and completions/failures batched (a delay of 0 ms: every completion
 * that arrives in the same tick goes in one statement).
 */
export const GRAPHILE_BATCHED_PRESET = {
  worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
};

/** Creates the graphile_worker schema in `url` (for the template database). */
export async function migrateGraphileWorker(url: string): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  try {
    await utils.migrate();
  } finally {
    await utils.release();
  }
}

/**
 * A pg pool as graphile-worker makes from a connection string (node-postgres's default of 10
 * connections), made here so its 'error' events have a listener: an idle client whose
 * connection ends (the database is dropped after the run) must not crash the process.
 */
function createPool(url: string, closing: () => boolean): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const onError = (error: Error): void => {
    if (closing()) return;
    process.stderr.write(`graphile-worker pool error: ${error.message}\n`);
    process.exitCode = 1;
  };
  pool.on('error', onError);
  // graphile-worker also wants every checked-out client covered (it warns otherwise).
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/**
 * graphile-worker 0.18 with its defaults (pool of 10, LISTEN/NOTIFY, 2 s poll), or with
 * `batched` the local queue + batched completion above. Jobs are added with
 * `workerUtils.addJob` / `addJobs`.
 */
export async function createGraphileSystem(url: string, batched: boolean): Promise<QueueSystem> {
  let closing = false;
  const utilsPool = createPool(url, () => closing);
  const utils: WorkerUtils = await makeWorkerUtils({ pgPool: utilsPool, logger: silent });
  const observer = createObserver(url);
  let runner: Runner | undefined;
  let runnerPool: pg.Pool | undefined;
  const stopRunner = async (): Promise<void> => {
    await runner?.stop();
    await runnerPool?.end();
    runner = undefined;
    runnerPool = undefined;
  };
  return {
    async enqueue(seq) {
      return (await utils.addJob(TASK, { seq })).id;
    },
    async enqueueMany(seqs) {
      return (await utils.addJobs(seqs.map((seq) => ({ identifier: TASK, payload: { seq } })))).length;
    },
    async startWorker(onRun) {
      runnerPool = createPool(url, () => closing);
      runner = await run({
        pgPool: runnerPool,
        concurrency: CONCURRENCY,
        logger: silent,
        noHandleSignals: true,
        taskList: {
          [TASK]: async (payload, helpers) => {
            onRun(helpers.job.id, (payload as { seq: number }).seq);
          },
        },
        ...(batched ? { preset: GRAPHILE_BATCHED_PRESET } : {}),
      });
    },
    stopWorker: stopRunner,
    async unfinished() {
      // A finished job is deleted from the table.
      const [row] = await observer.sql`SELECT count(*)::int AS n FROM graphile_worker._private_jobs`;
      return Number(row?.n);
    },
    async watchFinished(onFinished) {
      await observer.sql.unsafe(`
        CREATE OR REPLACE FUNCTION bench_job_finished() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('${FINISHED_CHANNEL}', OLD.id::text); RETURN NULL; END $$;
        CREATE OR REPLACE TRIGGER bench_job_finished AFTER DELETE ON graphile_worker._private_jobs
          FOR EACH ROW EXECUTE FUNCTION bench_job_finished();`);
      await observer.listen(FINISHED_CHANNEL, onFinished);
    },
    async close() {
      closing = true;
      await stopRunner();
      await observer.close();
      await utils.release();
      await utilsPool.end();
    },
  };
}
