import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClockSkew, checkMigrations, closeCheckConnection, openCheckConnection, shippedMigrations } from '../../src/db/doctor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let sql: postgres.Sql;
beforeAll(async () => {
  database = await createTestDatabase();
  sql = openCheckConnection(database.url);
});
afterAll(async () => {
  if (sql) await closeCheckConnection(sql);
  await database?.drop();
});

/** This process's clock, moved by `offsetMs` (the database's cannot be). */
const skewed = (offsetMs: number) => () => Date.now() + offsetMs;

describe('checkClockSkew', () => {
  it('is ok within a second, warns beyond, fails beyond ten, and says the figure and the direction', async () => {
    const [ok, ahead, behind, far] = await Promise.all([
      checkClockSkew(sql),
      checkClockSkew(sql, { now: skewed(5000) }),
      checkClockSkew(sql, { now: skewed(-3000) }),
      checkClockSkew(sql, { now: skewed(20_000) }),
    ]);
    expect(ok.status).toBe('ok');
    expect(ahead.status).toBe('warn');
    expect(ahead.message).toMatch(/\b5\.0 s ahead of the database/);
    expect(behind.status).toBe('warn');
    expect(behind.message).toMatch(/\b3\.0 s behind the database/);
    expect(far.status).toBe('fail');
    expect(far.message).toMatch(/\b20\.0 s ahead/);
  });

  it('takes its thresholds as options', async () => {
    expect((await checkClockSkew(sql, { now: skewed(500), warnMs: 100, failMs: 400 })).status).toBe('fail');
    expect((await checkClockSkew(sql, { now: skewed(500), warnMs: 100, failMs: 1000 })).status).toBe('warn');
  });
});

describe('checkMigrations', () => {
  it('warns when the database has a migration newer than the ones shipped', async () => {
    expect((await checkMigrations(sql)).status).toBe('ok');
    const latest = (await shippedMigrations()).at(-1)!;
    await sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('from-a-newer-version', ${latest.when + 1})`;
    expect(await checkMigrations(sql)).toMatchObject({ status: 'warn', check: 'migrations' });
  });
});
