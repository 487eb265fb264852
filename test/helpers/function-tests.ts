import { createDb, type Sql } from '../../src/db/client.js';
import { EVENTS_CHANNEL } from '../../src/queue/events.js';
import { waitFor } from './wait.js';

/**
 * Shared by the tests of the cached-plan SQL functions (taskwire_claim, taskwire_complete,
 * taskwire_append_output): each checks its plans on a table with and without statistics, and
 * compares what it announces with the statement it replaced.
 */

/** Rows of pg_stats for `tasks` in the test's schema: 0 on a table never analyzed. */
export async function statisticsRows(sql: Sql): Promise<number> {
  const [row] = await sql`SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'tasks'`;
  return Number(row?.n);
}

/**
 * The payloads `run` sends on the events channel, each task id replaced by its place in `ids`
 * (`#0`, `#1`, …), sorted: which chunk of 100 ids goes first is up to the plan's grouping. A
 * marker sent after `run` closes the list.
 */
export async function eventPayloadsOf(url: string, ids: readonly string[], run: () => Promise<unknown>): Promise<string[]> {
  const db = createDb(url, { max: 1 });
  const heard: string[] = [];
  try {
    await db.sql.listen(EVENTS_CHANNEL, (p) => heard.push(p));
    await run();
    await db.sql`SELECT pg_notify(${EVENTS_CHANNEL}, 'marker')`;
    await waitFor(() => heard.includes('marker'), { message: 'the marker' });
  } finally {
    await db.close();
  }
  const place = new Map(ids.map((id, i) => [id, String(i)]));
  return heard.filter((p) => p !== 'marker').map((p) => p.replace(/[0-9a-f-]{36}/g, (id) => `#${place.get(id) ?? id}`)).sort();
}
