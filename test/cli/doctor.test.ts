import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CheckResult } from '../../src/db/doctor.js';
import { shippedMigrations } from '../../src/db/doctor.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { withDatabase } from '../helpers/global-setup.js';
import { runCli } from './run-cli.js';

interface Report {
  ok: boolean;
  checks: CheckResult[];
  skipped: string[];
}

// Every variable doctor reads, set here: what the run's own environment holds must not leak in.
const BASE_ENV = { DATABASE_LISTEN_URL: '', HOST: '127.0.0.1', AUTH_MODE: 'off', LOG_LEVEL: 'warn' };

let database: TestDatabase;
let admin: postgres.Sql;
const extraDatabases: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
});
afterAll(async () => {
  for (const name of extraDatabases) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin?.end();
  await database?.drop();
});

/** A new database on the test server: empty, or a copy of the migrated template. */
async function scratchDatabase(from?: string): Promise<string> {
  const name = `taskwire_doctor_${randomBytes(5).toString('hex')}`;
  await admin.unsafe(`CREATE DATABASE ${name}${from ? ` TEMPLATE ${from}` : ''}`);
  extraDatabases.push(name);
  return withDatabase(inject('adminUrl'), name);
}

async function doctor(env: Record<string, string>): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await runCli(['doctor', '--json'], { ...BASE_ENV, ...env });
  return { code: result.code, report: JSON.parse(result.stdout) as Report, stderr: result.stderr };
}

const statuses = (report: Report): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.check, c.status]));

describe('taskwire doctor', () => {
  it('passes every check on a migrated database and exits 0, one line per check', async () => {
    const [json, human] = await Promise.all([
      doctor({ DATABASE_URL: database.url }),
      runCli(['doctor'], { ...BASE_ENV, DATABASE_URL: database.url }),
    ]);
    expect(json.code).toBe(0);
    expect(statuses(json.report)).toEqual({ database: 'ok', migrations: 'ok', listen: 'ok', clock: 'ok', auth: 'ok' });
    expect(json.report).toMatchObject({ ok: true, skipped: [] });
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual(json.report.checks.map((c) => ['ok', c.check]));
    expect(lines).toHaveLength(json.report.checks.length + 1);
  });

  it('says in one line that a database on a closed port cannot be reached, exits 1, no stack', async () => {
    const url = `postgres://postgres:x@127.0.0.1:${await freePort()}/nowhere`;
    const human = await runCli(['doctor'], { ...BASE_ENV, DATABASE_URL: url });
    expect(human.code).toBe(1);
    expect(human.stderr).toBe('');
    const failures = human.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^FAIL\s+database\s+\S/);
    expect(failures[0]).toContain('DATABASE_URL');
    expect(human.stdout).not.toMatch(/\n\s+at /);
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ database: 'fail', auth: 'ok' });
    expect(report.skipped).toEqual(['migrations', 'listen', 'clock']);
  });

  it('names every migration pending on an empty database', async () => {
    const url = await scratchDatabase();
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(statuses(report)).toMatchObject({ database: 'ok', migrations: 'fail', listen: 'ok' });
    const message = report.checks.find((c) => c.check === 'migrations')?.message ?? '';
    const shipped = await shippedMigrations();
    for (const m of shipped) expect(message).toContain(m.tag);
    expect(message).toContain('taskwire migrate');
  });

  it('names only the migration a database lacks', async () => {
    const url = await scratchDatabase(inject('templateDb'));
    const shipped = await shippedMigrations();
    const latest = shipped.at(-1)!;
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await sql`DELETE FROM drizzle.__drizzle_migrations WHERE created_at = ${latest.when}`;
    } finally {
      await sql.end();
    }
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    const migrations = report.checks.find((c) => c.check === 'migrations');
    expect(migrations?.status).toBe('fail');
    for (const m of shipped) {
      if (m === latest) expect(migrations?.message).toContain(m.tag);
      else expect(migrations?.message).not.toContain(m.tag);
    }
  });

  it('fails the LISTEN check when DATABASE_LISTEN_URL cannot be reached, naming that variable', async () => {
    const listenUrl = `postgres://postgres:x@127.0.0.1:${await freePort()}/nowhere`;
    const { code, report } = await doctor({ DATABASE_URL: database.url, DATABASE_LISTEN_URL: listenUrl });
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ database: 'ok', migrations: 'ok', listen: 'fail', clock: 'ok', auth: 'ok' });
    expect(report.checks.find((c) => c.check === 'listen')?.message).toContain('DATABASE_LISTEN_URL');
  });

  it('fails the auth check when AUTH_MODE=off meets a HOST other than loopback', async () => {
    const { code, report } = await doctor({ DATABASE_URL: database.url, HOST: '0.0.0.0' });
    expect(code).toBe(1);
    expect(statuses(report)).toMatchObject({ database: 'ok', auth: 'fail' });
  });
});
