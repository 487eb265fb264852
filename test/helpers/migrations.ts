import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';

/**
 * For the tests of the migrator (test/db/migrate*.test.ts): an empty database of their own (not the
 * migrated template: what a first start meets), and a copy of the shipped migrations with one more.
 */
export interface EmptyDatabase {
  url: string;
  /** Drops it (FORCE: connections left open are cut). */
  drop(): Promise<void>;
}

export async function createEmptyDatabase(prefix: string): Promise<EmptyDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const u = new URL(inject('adminUrl'));
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** A copy of drizzle/ whose journal ends with one more migration, `tag`, holding `sql`; removed by `remove`. */
export async function migrationsWithOneMore(tag: string, sql: string): Promise<{ folder: string; remove(): Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'taskwire-migrations-'));
  await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = path.join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: Array<{ idx: number; when: number; tag: string; version: string; breakpoints: boolean }> };
  const last = journal.entries[journal.entries.length - 1];
  if (!last) throw new Error('no shipped migrations');
  journal.entries.push({ idx: last.idx + 1, version: last.version, when: last.when + 1, tag, breakpoints: true });
  await writeFile(journalPath, JSON.stringify(journal));
  await writeFile(path.join(folder, `${tag}.sql`), sql);
  return { folder, remove: () => rm(folder, { recursive: true, force: true }) };
}
