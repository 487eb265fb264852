import type { Executor } from '../../../db/client.js';
import { JOBS_CHANNEL } from '../../events.js';
import { QUEUE_CONTROL_PREFIX, type QueueControlChange } from '../channel.js';
import type { QueueSettings } from '../types.js';

/** What to change: `keep` leaves a field as it is (a row is made with no limit and not paused). */
export interface SettingsChange {
  paused?: boolean;
  concurrency?: number | null;
  rateMax?: number | null;
  ratePerMs?: number | null;
  perKeyConcurrency?: number | null;
}

/**
 * Changes a queue's settings, making its row if it has none (queues exist by name), bumps its
 * version and tells every worker on the jobs channel, in one statement. A pause keeps the time
 * of the first pause (pausing again is not a new pause). A row left with nothing set is deleted.
 */
export async function changeQueueSettings(exec: Executor, name: string, c: SettingsChange, notice: QueueControlChange): Promise<QueueSettings> {
  const keep = (v: unknown): boolean => v === undefined;
  const [row] = await exec`
    WITH changed AS (
      INSERT INTO queues AS q (name, paused, paused_at, concurrency, rate_max, rate_per_ms, per_key_concurrency)
      VALUES (${name}, coalesce(${c.paused ?? null}::boolean, false), CASE WHEN ${c.paused ?? null}::boolean THEN now() END,
              ${c.concurrency ?? null}::int, ${c.rateMax ?? null}::int, ${c.ratePerMs ?? null}::int, ${c.perKeyConcurrency ?? null}::int)
      ON CONFLICT (name) DO UPDATE SET
        paused = coalesce(${c.paused ?? null}::boolean, q.paused),
        paused_at = CASE WHEN ${c.paused ?? null}::boolean IS NULL THEN q.paused_at
                         WHEN ${c.paused ?? null}::boolean THEN coalesce(q.paused_at, now()) END,
        concurrency = CASE WHEN ${keep(c.concurrency)} THEN q.concurrency ELSE EXCLUDED.concurrency END,
        rate_max = CASE WHEN ${keep(c.rateMax)} THEN q.rate_max ELSE EXCLUDED.rate_max END,
        rate_per_ms = CASE WHEN ${keep(c.ratePerMs)} THEN q.rate_per_ms ELSE EXCLUDED.rate_per_ms END,
        -- Only a new window length (or a cleared limit) makes the count of the window meaningless. The
        -- same limit set again (a deploy applying its configuration; the API sends max and perMs
        -- together) or a new max keeps it: resetting it granted a whole max more in the same window.
        rate_window = CASE WHEN ${keep(c.ratePerMs)} OR q.rate_per_ms = EXCLUDED.rate_per_ms THEN q.rate_window END,
        per_key_concurrency = CASE WHEN ${keep(c.perKeyConcurrency)} THEN q.per_key_concurrency ELSE EXCLUDED.per_key_concurrency END,
        version = q.version + 1,
        updated_at = now()
      RETURNING *
    ),
    notified AS (SELECT pg_notify(${JOBS_CHANNEL}, ${QUEUE_CONTROL_PREFIX + notice + ':'} || name) FROM changed)
    SELECT changed.*, (SELECT count(*) FROM notified) AS notifications FROM changed`;
  const settings = toSettings(row as Record<string, unknown>);
  if (!settings.paused && settings.concurrency === null && settings.rateLimit === null && settings.perKeyConcurrency === null) {
    // Nothing left set (a resume, limits cleared, or `{}` on a new name): a queue with no row runs as
    // this one would, and the row would only list the queue for good (a tester's find). Gone unless a
    // change committed meanwhile set something again.
    await exec`DELETE FROM queues WHERE name = ${name} AND NOT paused AND concurrency IS NULL AND rate_max IS NULL AND per_key_concurrency IS NULL`;
  }
  return settings;
}

/** Settings of these queues (all when `names` is null); queues without a row are absent. */
export async function readQueueSettings(exec: Executor, names: readonly string[] | null): Promise<QueueSettings[]> {
  const rows = names === null
    ? await exec`SELECT * FROM queues ORDER BY name`
    : await exec`SELECT * FROM queues WHERE name = ANY(${names as string[]}::text[]) ORDER BY name`;
  return rows.map((row) => toSettings(row));
}

/** Queues a claim must not take the fast way: paused ones, and limited ones (claimed under their lock). A small table: one read. */
export async function readHeldQueues(exec: Executor): Promise<{ paused: string[]; limited: string[] }> {
  const rows = await exec`
    SELECT name, paused FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_max IS NOT NULL OR per_key_concurrency IS NOT NULL`;
  return {
    paused: rows.filter((r) => r.paused === true).map((r) => String(r.name)),
    limited: rows.filter((r) => r.paused !== true).map((r) => String(r.name)),
  };
}

/** The settings a queue has before anything was set. */
export function defaultSettings(name: string): QueueSettings {
  return { name, paused: false, pausedAt: null, concurrency: null, rateLimit: null, perKeyConcurrency: null, version: 0 };
}

function toSettings(row: Record<string, unknown>): QueueSettings {
  const rateMax = row.rateMax as number | null;
  const perMs = row.ratePerMs as number | null;
  return {
    name: String(row.name),
    paused: row.paused === true,
    pausedAt: row.pausedAt ? new Date(row.pausedAt as string | Date) : null,
    concurrency: (row.concurrency as number | null) ?? null,
    rateLimit: rateMax !== null && perMs !== null ? { max: rateMax, perMs } : null,
    perKeyConcurrency: (row.perKeyConcurrency as number | null) ?? null,
    version: Number(row.version),
  };
}
