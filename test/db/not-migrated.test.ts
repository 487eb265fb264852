import { readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { createDeps } from '../../src/deps.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createEmptyDatabase, type EmptyDatabase } from '../helpers/migrations.js';
import { spawnTaskwire } from '../helpers/taskwire-process.js';

// A program embedding the core on a database it never migrated: createDeps says what to run, where
// the first enqueue used to fail with PostgreSQL's `relation "tasks" does not exist`.
let database: EmptyDatabase;
let shipped: { tag: string }[];

beforeAll(async () => {
  database = await createEmptyDatabase('taskwire_unmigrated');
  shipped = (JSON.parse(await readFile(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] }).entries;
});
afterAll(async () => {
  await database?.drop();
});

const open = () => createDeps(loadConfig({ DATABASE_URL: database.url }), { databaseUrl: database.url, log: silentLogger });

describe('createDeps on a database short of migrations', () => {
  it('throws a ConfigError saying none is applied and what to run, on an empty database', async () => {
    const error = await open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      field: 'DATABASE_URL',
      message: `the database at DATABASE_URL has none of taskwire's ${shipped.length} migrations applied: run migrateDatabase(url) or \`taskwire migrate\` first`,
    });
  });

  it('names the pending one after an upgrade, and opens once it is applied', async () => {
    await migrateDatabase(database.url);
    const sql = postgres(database.url, { max: 1, onnotice: () => undefined });
    try {
      // As an older version left it: the newest migration not applied.
      const [newest] = await sql`DELETE FROM drizzle.__drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM drizzle.__drizzle_migrations) RETURNING *`;
      await expect(open()).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: `the database at DATABASE_URL has 1 of taskwire's ${shipped.length} migrations pending (${shipped.at(-1)?.tag}): run migrateDatabase(url) or \`taskwire migrate\` first`,
      });
      await sql`INSERT INTO drizzle.__drizzle_migrations ${sql(newest!)}`;
    } finally {
      await sql.end();
    }
    const deps = await open();
    try {
      expect((await deps.queue.enqueue({ name: 'math.copysign', args: [1, -1] })).status).toBe('PENDING');
    } finally {
      await deps.close();
    }
  });
});

describe('a process started on a database short of migrations', () => {
  it('applies them and says so in its log', async () => {
    const fresh = await createEmptyDatabase('taskwire_start_migrates');
    const p = spawnTaskwire(['worker'], { DATABASE_URL: fresh.url, DB_POOL_SIZE: '2' });
    try {
      const line = await p.waitForLog((l) => l.msg.startsWith('migrations: applied'), 30_000);
      expect(line).toMatchObject({ level: 30, applied: shipped.length, known: shipped.length });
      await p.waitForLog((l) => l.msg === 'worker started', 30_000);
    } finally {
      expect(await p.stop()).toBe(0);
      await fresh.drop();
    }
  });
});
