import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { waitFor } from '../helpers/wait.js';

// A migration that adds a column queues for an ACCESS EXCLUSIVE lock on tasks; every writer queues
// behind it. With a long reader holding the table, the migration must back off (lock_timeout) and
// let the writers through, then apply once the reader is gone.
const name = `taskwire_mlw_${randomBytes(5).toString('hex')}`;
let url: string;
let admin: postgres.Sql;
let folder: string;

beforeAll(async () => {
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const u = new URL(inject('adminUrl'));
  u.pathname = `/${name}`;
  url = u.toString();
  await migrateDatabase(url);
  folder = await mkdtemp(path.join(tmpdir(), 'taskwire-migrations-'));
  await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = path.join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: Array<{ idx: number; when: number; tag: string; version: string; breakpoints: boolean }> };
  const last = journal.entries[journal.entries.length - 1];
  if (!last) throw new Error('no shipped migrations');
  journal.entries.push({ idx: last.idx + 1, version: last.version, when: last.when + 1, tag: '9999_test_add_column', breakpoints: true });
  await writeFile(journalPath, JSON.stringify(journal));
  await writeFile(path.join(folder, '9999_test_add_column.sql'), 'ALTER TABLE tasks ADD COLUMN test_added integer;');
}, 120_000);

afterAll(async () => {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
  if (folder) await rm(folder, { recursive: true, force: true });
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
