import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';

// Issue 17: a migration must move a database that holds data without a long lock. Building an index
// inside the migration transaction holds a SHARE lock on the table for the whole build, so every
// enqueue, claim and completion waits. The tables that grow with the work must get their indexes
// CONCURRENTLY (outside the transaction: docs/decisions.md "Migrations without long locks").
// Migrations before 0014 predate the rule and are listed as they are (a database that old builds
// them under the lock once; docs/deploy.md says so).
const GROWING_TABLES = ['tasks', 'task_events', 'workflow_step_changes'];
const BEFORE_THE_RULE = 14;

async function migrations(): Promise<Array<{ file: string; number: number; text: string }>> {
  const files = (await readdir(MIGRATIONS_FOLDER)).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ file, number: Number(file.slice(0, 4)), text: await readFile(path.join(MIGRATIONS_FOLDER, file), 'utf8') })));
}

/**
 * `CREATE [UNIQUE] INDEX` statements on one of the growing tables without CONCURRENTLY, unless the
 * same migration creates that table (an index on a table made in the same transaction locks nobody).
 */
function lockingIndexBuilds(text: string): string[] {
  const statements = text
    .replace(/--[^\n]*(\n|$)/g, '\n')
    .split(/;/)
    .map((s) => s.trim().replace(/\s+/g, ' '));
  const created = new Set(statements.map((s) => /^CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?"?(\w+)"?/i.exec(s)?.[1]).filter((t) => t !== undefined));
  return statements.filter((s) => {
    if (!/^CREATE (UNIQUE )?INDEX /i.test(s) || /^CREATE (UNIQUE )?INDEX CONCURRENTLY /i.test(s)) return false;
    const table = /\bON (?:ONLY )?"?(\w+)"?/i.exec(s)?.[1];
    return table !== undefined && GROWING_TABLES.includes(table) && !created.has(table);
  });
}

describe('migrations and long locks', () => {
  it('finds a locking index build, and lets a concurrent one or one on another table pass', () => {
    expect(lockingIndexBuilds('CREATE INDEX "x" ON "tasks" USING btree ("a");')).toHaveLength(1);
    expect(lockingIndexBuilds('CREATE UNIQUE INDEX x ON task_events (a);--> statement-breakpoint\nSELECT 1')).toHaveLength(1);
    expect(lockingIndexBuilds('CREATE INDEX CONCURRENTLY IF NOT EXISTS "x" ON "tasks" USING btree ("a");')).toEqual([]);
    expect(lockingIndexBuilds('CREATE INDEX "x" ON "queues" USING btree ("a");')).toEqual([]);
    expect(lockingIndexBuilds('-- CREATE INDEX x ON tasks (a);\nSELECT 1;')).toEqual([]);
    expect(lockingIndexBuilds('CREATE TABLE "task_events" (a int);\nCREATE INDEX "y" ON "task_events" (a);')).toEqual([]);
  });

  it(`builds no index on ${GROWING_TABLES.join(', ')} inside a transaction from migration ${BEFORE_THE_RULE} on`, async () => {
    const all = await migrations();
    expect(all.length).toBeGreaterThan(BEFORE_THE_RULE);
    const offending = all.filter((m) => m.number >= BEFORE_THE_RULE).flatMap((m) => lockingIndexBuilds(m.text).map((s) => `${m.file}: ${s}`));
    expect(offending).toEqual([]);
    // The rule's exceptions are the older migrations only: if one of these changes, update the note.
    const older = all.filter((m) => m.number < BEFORE_THE_RULE).flatMap((m) => lockingIndexBuilds(m.text).map(() => m.file));
    expect([...new Set(older)]).toEqual([
      '0001_partial_idempotency_index.sql',
      '0004_auth_tenants.sql',
      '0007_flow_control.sql',
      '0009_workflows.sql',
      '0010_schedules.sql',
    ]);
  });
});
