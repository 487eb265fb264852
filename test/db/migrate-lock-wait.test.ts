import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createEmptyDatabase, migrationsWithOneMore, type EmptyDatabase } from '../helpers/migrations.js';
import { waitFor } from '../helpers/wait.js';

// A migration that adds a column queues for an ACCESS EXCLUSIVE lock on tasks; every writer queues
// behind it. With a long reader holding the table, the migration must back off (lock_timeout) and
// let the writers through, then apply once the reader is gone.
let database: EmptyDatabase;
let url: string;
let folder: string;
let removeFolder: () => Promise<void>;

beforeAll(async () => {
  database = await createEmptyDatabase('taskwire_mlw');
  url = database.url;
  await migrateDatabase(url);
  ({ folder, remove: removeFolder } = await migrationsWithOneMore('9999_test_add_column', 'ALTER TABLE tasks ADD COLUMN test_added integer;'));
}, 120_000);

afterAll(async () => {
  await database?.drop();
  await removeFolder?.();
});

describe('a migration that needs a table lock another session holds', () => {
  it('backs off within its lock timeout, so writers are not held behind it, and applies once the lock is free', async () => {
    const reader = postgres(url, { max: 1, onnotice: () => undefined });
    const writer = postgres(url, { max: 1, onnotice: () => undefined });
    const waits: number[] = [];
    try {
      const holding = await reader.reserve();
      await holding`BEGIN`;
      await holding`SELECT count(*) FROM tasks`;
      const migrated = migrateDatabase(url, { migrationsFolder: folder, lockTimeoutMs: 100, onLockWait: (w) => waits.push(w.attempt) });
      await waitFor(() => waits.length >= 1 || undefined, { timeoutMs: 20_000, message: 'the migration to give up on the lock once' });
      // While the reader still holds the table, writes go through (each waits one lock timeout at most).
      for (let i = 0; i < 5; i++) await writer`INSERT INTO tasks (id, name, args) VALUES (gen_random_uuid(), 'writer', '[]')`;
      expect(waits.length).toBeGreaterThanOrEqual(1);
      await holding`COMMIT`;
      holding.release();
      expect(await migrated).toMatchObject({ applied: 1 });
      const [column] = await writer`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'test_added'`;
      expect(column?.n).toBe(1);
      const [rows] = await writer`SELECT count(*)::int AS n FROM tasks WHERE name = 'writer'`;
      expect(rows?.n).toBe(5);
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it('a release that does not know the newest migration applied is told so (databaseAhead), as after a rollback', async () => {
    // The database now holds the test's migration, one newer than the shipped ones.
    expect(await migrateDatabase(url, { migrationsFolder: folder })).toMatchObject({ applied: 0, databaseAhead: false });
    expect(await migrateDatabase(url)).toMatchObject({ applied: 0, databaseAhead: true });
  });
});
