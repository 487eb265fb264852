import { readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { createEmptyDatabase, type EmptyDatabase } from '../helpers/migrations.js';

// A fresh, empty database (not the migrated template): what a first start meets.
let database: EmptyDatabase;
let url: string;

beforeAll(async () => {
  database = await createEmptyDatabase('taskwire_fresh');
  url = database.url;
});
afterAll(async () => {
  await database?.drop();
});

describe('migrateDatabase', () => {
  it('is safe to run twice in parallel on a fresh database, and idempotent afterwards', async () => {
    const parallel = await Promise.all([migrateDatabase(url), migrateDatabase(url), migrateDatabase(url)]);
    const again = await migrateDatabase(url);

    const journal = JSON.parse(await readFile(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    // Each reports what it did: one applied them all, the others (after its lock) and the rerun none.
    expect(parallel.map((r) => r.applied).sort((a, b) => b - a)).toEqual([journal.entries.length, 0, 0]);
    expect(again).toEqual({ applied: 0, known: journal.entries.length, databaseAhead: false });
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const [applied] = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
      expect(applied?.n).toBe(journal.entries.length);
      const indexes = await sql`SELECT indexname FROM pg_indexes WHERE tablename = 'tasks' ORDER BY indexname`;
      expect(indexes.map((r) => r.indexname)).toEqual([
        'tasks_claim_idx',
        'tasks_expires_idx',
        'tasks_finished_without_expiry_idx',
        'tasks_idempotency_key_idx',
        'tasks_key_claim_idx',
        'tasks_lease_idx',
        'tasks_name_id_idx',
        'tasks_pkey',
        'tasks_queue_claim_idx',
        'tasks_queue_id_idx',
        'tasks_running_queue_key_idx',
        'tasks_schedule_id_idx',
        'tasks_schedule_occurrence_idx',
        'tasks_status_not_succeeded_idx',
        'tasks_tenant_not_default_idx',
        'tasks_workflow_idx',
      ]);
      // The session advisory lock was released by every run.
      const [locks] = await sql`
        SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      expect(locks?.n).toBe(0);
    } finally {
      await sql.end();
    }
  });
});
