import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';

/** The committed drizzle-kit migrations. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any constant works; it only has to be the same in every taskwire process.
const MIGRATION_LOCK_KEY = 0x7a5c_1e01;

/**
 * Applies pending migrations. Idempotent, and safe when several processes start at
 * once: they queue on a session advisory lock, and the later ones find nothing to do.
 * `url` must reach PostgreSQL directly (DATABASE_LISTEN_URL when DATABASE_URL is PgBouncer's
 * in transaction mode): through the pooler the lock and its unlock could run in different
 * server sessions, leaving the lock held for good in the first.
 */
export async function migrateDatabase(url: string): Promise<void> {
  // One connection, so the session lock and drizzle's migrator share it.
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
