import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkPrivileges, closeCheckConnection, openCheckConnection } from '../../src/db/doctor.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { ConfigError } from '../../src/errors.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { waitForStatus } from '../helpers/factories.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';

// A role as a careful operator makes one for the workers: it may read and write the rows and call
// taskwire's functions, but not create anything (no CREATE on the database or a schema, owns no table).
const role = `taskwire_limited_${randomBytes(4).toString('hex')}`;
const password = randomBytes(8).toString('hex');
let app: TestApp;
let limitedUrl: string;
let worker: TaskwireProcess | undefined;

beforeAll(async () => {
  app = await createTestApp();
  const database = new URL(app.database.url).pathname.slice(1);
  await app.sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  for (const grant of [
    `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA public, drizzle TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, drizzle TO ${role}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public, drizzle TO ${role}`,
    `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${role}`,
  ]) {
    await app.sql.unsafe(grant);
  }
  const u = new URL(app.database.url);
  u.username = role;
  u.password = password;
  limitedUrl = u.toString();
});
afterAll(async () => {
  await worker?.stop();
  await app?.close();
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await admin.end();
  }
});

async function exitCode(p: TaskwireProcess): Promise<number | null> {
  if (p.child.exitCode !== null) return p.child.exitCode;
  const [code] = (await once(p.child, 'exit')) as [number | null];
  return code;
}

describe('a role without CREATE privileges', () => {
  it('migrates nothing, and runs a worker, on a database whose migrations are applied', async () => {
    expect((await migrateDatabase(limitedUrl)).applied).toBe(0);
    const sql = openCheckConnection(limitedUrl);
    try {
      const check = await checkPrivileges(sql);
      expect(check, check.message).toMatchObject({ check: 'privileges', status: 'ok' });
    } finally {
      await closeCheckConnection(sql);
    }

    worker = spawnTaskwire(['worker'], { DATABASE_URL: limitedUrl, HOST: '127.0.0.1', METRICS_PORT: '0', WORKER_POLL_INTERVAL_MS: '100', DB_POOL_SIZE: '4' });
    await worker.waitForLog((l) => typeof l.url === 'string' && l.url.endsWith('/metrics'));
    const task = await app.deps.queue.enqueue({ name: 'math.copysign', args: [2, -1] });
    expect((await waitForStatus(app.deps, task.id, 'SUCCEEDED')).returnValue).toBe(-2);
    expect(await worker.stop()).toBe(0);
    worker = undefined;
  });

  it('stops with a ConfigError (exit 2) saying migrations are pending and it cannot apply them', async () => {
    // The newest migration forgotten: pending again, and only the tables' owner may apply it.
    const [newest] = await app.sql`
      DELETE FROM drizzle.__drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM drizzle.__drizzle_migrations) RETURNING hash, created_at::text AS at`;

    const error = await migrateDatabase(limitedUrl).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'DATABASE_URL' });
    expect((error as Error).message).toMatch(new RegExp(`1 migration is pending and the role "${role}" of DATABASE_URL cannot apply it`));

    const sql = openCheckConnection(limitedUrl);
    try {
      const check = await checkPrivileges(sql);
      expect(check.status).toBe('fail');
      expect(check.message).toMatch(/pending/);
    } finally {
      await closeCheckConnection(sql);
    }

    const failing = spawnTaskwire(['worker'], { DATABASE_URL: limitedUrl, HOST: '127.0.0.1', DB_POOL_SIZE: '2' });
    expect(await exitCode(failing)).toBe(2);

    // Nothing was applied by the failed attempts (its transaction rolled back): recorded again, the limited role starts again.
    await app.sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${newest!.hash}, ${newest!.at})`;
    expect((await migrateDatabase(limitedUrl)).applied).toBe(0);
  });

  it('fails the doctor\'s privileges check, naming the grant, when the role may not write a table', async () => {
    await app.sql.unsafe(`REVOKE INSERT ON tasks FROM ${role}`);
    const sql = openCheckConnection(limitedUrl);
    try {
      const check = await checkPrivileges(sql);
      expect(check).toMatchObject({ check: 'privileges', status: 'fail' });
      expect(check.message).toContain('INSERT on tasks');
    } finally {
      await closeCheckConnection(sql);
      await app.sql.unsafe(`GRANT INSERT ON tasks TO ${role}`);
    }
  });
});
