import postgres from 'postgres';

/**
 * A side connection for the harness: counts what is left and LISTENs for completions.
 * The same client library (postgres.js) observes every system, so the observation
 * costs the same for all of them.
 */
export interface Observer {
  sql: postgres.Sql;
  listen(channel: string, onPayload: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

export function createObserver(url: string): Observer {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: 'bench-observer' } });
  const unlisten: (() => Promise<void>)[] = [];
  return {
    sql,
    async listen(channel, onPayload) {
      const meta = await sql.listen(channel, onPayload);
      unlisten.push(() => meta.unlisten());
    },
    async close() {
      for (const u of unlisten) await u().catch(() => undefined);
      await sql.end({ timeout: 5 });
    },
  };
}

/** Channel the peers' completion triggers notify on. */
export const FINISHED_CHANNEL = 'bench_finished';
