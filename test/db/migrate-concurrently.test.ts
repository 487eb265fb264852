import { createHash } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createEmptyDatabase, migrationsWithOneMore, type EmptyDatabase } from '../helpers/migrations.js';
import { waitFor } from '../helpers/wait.js';

// A database migrated by the shipped migrations, holding data, and a copy of the migrations
// folder with one more migration that builds (and drops) an index CONCURRENTLY.
const ROWS = 200_000;
let database: EmptyDatabase;
let url: string;
let sql: postgres.Sql;
let folder: string;
let removeFolder: () => Promise<void>;

const INDEX_SQL = `-- an index that takes a while to build: a hash of every row's arguments
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_test_args_md5_idx ON tasks (md5(args::text || kwargs::text));
--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS tasks_test_gone_idx;`;

beforeAll(async () => {
  database = await createEmptyDatabase('taskwire_cic');
  url = database.url;
  await migrateDatabase(url);
  sql = postgres(url, { max: 4, onnotice: () => undefined });
  await sql`INSERT INTO tasks (id, name, args, status, finished_at)
    SELECT gen_random_uuid(), 'data', jsonb_build_array(g, repeat('x', 100)), 'SUCCEEDED', now() FROM generate_series(1, ${ROWS}::int) g`;
  await sql`CREATE INDEX tasks_test_gone_idx ON tasks (name)`;
  ({ folder, remove: removeFolder } = await migrationsWithOneMore('9999_test_concurrently', INDEX_SQL));
}, 120_000);

afterAll(async () => {
  await sql?.end();
  await database?.drop();
  await removeFolder?.();
});

async function indexValid(index: string): Promise<boolean | null> {
  const [row] = await sql`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(${index})`;
  return row ? row.indisvalid === true : null;
}

describe('migrations outside the transaction (CONCURRENTLY)', () => {
  it('builds an index on a table that holds data while another connection keeps writing, and records it', async () => {
    // An interrupted build leaves an INVALID index of the same name: IF NOT EXISTS alone would keep it.
    await expect(sql`CREATE UNIQUE INDEX CONCURRENTLY tasks_test_args_md5_idx ON tasks ((1))`).rejects.toMatchObject({ code: '23505' });
    expect(await indexValid('tasks_test_args_md5_idx')).toBe(false);

    const writer = postgres(url, { max: 1, onnotice: () => undefined });
    const commits: number[] = [];
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        await writer`INSERT INTO tasks (id, name, args) VALUES (gen_random_uuid(), 'writer', jsonb_build_array(${i}::int))`;
        commits.push(performance.now());
      }
    })();
    try {
      // The writer is running before the migration starts.
      const firstWrites = commits.length;
      await waitFor(() => commits.length >= firstWrites + 20, { message: 'the writer to be writing' });
      const t0 = performance.now();
      await migrateDatabase(url, { migrationsFolder: folder });
      const t1 = performance.now();
      writing = false;
      await writes;

      const during = commits.filter((t) => t > t0 && t < t1);
      let longestWait = 0;
      for (let i = 1; i < commits.length; i++) {
        const a = commits[i - 1] as number;
        const b = commits[i] as number;
        if (b > t0 && a < t1) longestWait = Math.max(longestWait, b - a);
      }
      // Only meaningful if the build took a while: an index built inside a transaction would
      // hold the writer out for all of it (one wait as long as the migration).
      expect(t1 - t0).toBeGreaterThan(300);
      expect(during.length).toBeGreaterThan(10);
      expect(longestWait).toBeLessThan((t1 - t0) / 2);
    } finally {
      writing = false;
      await writes.catch(() => undefined);
      await writer.end();
    }

    expect(await indexValid('tasks_test_args_md5_idx')).toBe(true);
    expect(await indexValid('tasks_test_gone_idx')).toBeNull();
    const hash = createHash('sha256').update(INDEX_SQL).digest('hex');
    const [recorded] = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations WHERE hash = ${hash}`;
    expect(recorded?.n).toBe(1);

    // Again: nothing pending, nothing done; and the shipped migrations see nothing pending either.
    await migrateDatabase(url, { migrationsFolder: folder });
    await migrateDatabase(url);
    const [again] = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations WHERE hash = ${hash}`;
    expect(again?.n).toBe(1);
  }, 120_000);
});
