import { PgBoss } from 'pg-boss';
import { createObserver, FINISHED_CHANNEL } from './observer.js';
import { CONCURRENCY, type QueueSystem } from './types.js';

const QUEUE = 'noop';

/**
 * pg-boss 12 with LISTEN/NOTIFY on (`useListenNotify` + a queue created with
 * `notify: true`), otherwise default settings. Workers: `localConcurrency: 10` (ten
 * fetch loops, each running one handler at a time, so ten at once as for the others),
 * fetching 10 jobs per round trip and re-fetching at once while batches come back full
 * (`burstWhenBatchFull`). With pg-boss's default `batchSize: 1` a loop sleeps its
 * polling interval after every job (measured: about 20 jobs/s), which is no way to
 * drain a queue, so the comparison uses its batch-fetch mode.
 */
export const PG_BOSS_WORK_OPTIONS = { localConcurrency: CONCURRENCY, batchSize: 10, burstWhenBatchFull: true } as const;

function createBoss(url: string): PgBoss {
  const boss = new PgBoss({ connectionString: url, useListenNotify: true });
  boss.on('error', (error: unknown) => {
    // An error event with no listener would crash the process; report it and fail the run.
    process.stderr.write(`pg-boss error: ${String(error)}\n`);
    process.exitCode = 1;
  });
  return boss;
}

/** Creates pg-boss's schema and the benchmark queue in `url` (for the template database). */
export async function migratePgBoss(url: string): Promise<void> {
  const boss = createBoss(url);
  await boss.start();
  await boss.createQueue(QUEUE, { notify: true });
  await boss.stop({ graceful: true });
}

export async function createPgBossSystem(url: string): Promise<QueueSystem> {
  const boss = createBoss(url);
  await boss.start();
  const observer = createObserver(url);
  let working = false;
  return {
    async enqueue(seq) {
      const id = await boss.send(QUEUE, { seq });
      if (!id) throw new Error('pg-boss send returned no id');
      return id;
    },
    async enqueueMany(seqs) {
      await boss.insert(QUEUE, seqs.map((seq) => ({ data: { seq } })));
      return seqs.length;
    },
    async startWorker(onRun) {
      working = true;
      await boss.work<{ seq: number }>(QUEUE, PG_BOSS_WORK_OPTIONS, async (jobs) => {
        for (const job of jobs) onRun(job.id, job.data.seq);
      });
    },
    async stopWorker() {
      if (working) await boss.offWork(QUEUE, { wait: true });
      working = false;
    },
    async unfinished() {
      const [row] = await observer.sql`SELECT count(*)::int AS n FROM pgboss.job WHERE name = ${QUEUE} AND state <> 'completed'`;
      return Number(row?.n);
    },
    async watchFinished(onFinished) {
      await observer.sql.unsafe(`
        CREATE OR REPLACE FUNCTION bench_job_finished() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('${FINISHED_CHANNEL}', NEW.id::text); RETURN NULL; END $$;
        CREATE OR REPLACE TRIGGER bench_job_finished AFTER UPDATE OF state ON pgboss.job
          FOR EACH ROW WHEN (NEW.state = 'completed' AND OLD.state <> 'completed')
          EXECUTE FUNCTION bench_job_finished();`);
      await observer.listen(FINISHED_CHANNEL, onFinished);
    },
    async close() {
      await observer.close();
      await boss.stop({ graceful: true });
    },
  };
}
