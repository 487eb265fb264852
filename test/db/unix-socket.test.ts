import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { runCli } from '../cli/run-cli.js';
import { waitFor } from '../helpers/wait.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// A DATABASE_URL naming a Unix socket, in each of libpq's forms (src/db/postgres-url.ts), against the
// run's PostgreSQL: postgres.js sent `?host=` to the server as a setting, which refused it, and read a
// %2F-encoded host as a name to look up.
let database: TestDatabase;
let socketUrls: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  const [row] = await database.db.sql<Array<{ dirs: string }>>`SELECT current_setting('unix_socket_directories') AS dirs`;
  const dir = row!.dirs.split(',')[0]!.trim();
  // The run's server listens on a socket too; a setup without one would make every case below fail.
  expect(dir).toMatch(/^\//);
  const tcp = new URL(database.url);
  const { username: user, password, port, pathname } = tcp;
  const name = pathname.slice(1);
  socketUrls = {
    'query parameters only': `postgresql:///${name}?host=${dir}&port=${port}&user=${user}&password=${password}`,
    'a user before ?host=': `postgres://${user}:${password}@/${name}?host=${encodeURIComponent(dir)}&port=${port}`,
    'a %2F-encoded host': `postgresql://${user}:${password}@${encodeURIComponent(dir)}:${port}/${name}`,
  };
});
afterAll(async () => {
  await database?.drop();
});

describe('a DATABASE_URL naming a Unix socket', () => {
  it('connects through the socket in each form: pool, migrations', async () => {
    for (const [form, url] of Object.entries(socketUrls)) {
      const db = createDb(url, { max: 2 });
      try {
        // inet_server_addr() is NULL on a Unix-socket connection.
        const [row] = await db.sql<Array<{ socket: boolean; database: string }>>`SELECT inet_server_addr() IS NULL AS socket, current_database() AS database`;
        expect({ form, ...row }).toEqual({ form, socket: true, database: new URL(database.url).pathname.slice(1) });
      } finally {
        await db.close();
      }
      await expect(migrateDatabase(url), form).resolves.not.toThrow();
    }
  });

  it('runs `taskwire doctor` through it', async () => {
    const url = socketUrls['a user before ?host=']!;
    const result = await runCli(['doctor', '--json'], { DATABASE_URL: url, DATABASE_LISTEN_URL: '', AUTH_MODE: 'off', LOG_LEVEL: 'warn', TASK_MODULES: '' });
    expect(result.stdout, result.stderr).toMatch(/^\{/);
    const report = JSON.parse(result.stdout) as { checks: Array<{ check: string; status: string; message: string }> };
    const check = report.checks.find((c) => c.check === 'database');
    expect(check, result.stderr).toMatchObject({ status: 'ok' });
    // Named by its socket's directory, not by the placeholder the URL is parsed with.
    expect(check!.message).toContain(`at ${new URL(url.replace('@/', '@x/')).searchParams.get('host')}:`);
    expect(report.checks.filter((c) => c.status === 'fail'), result.stdout).toEqual([]);
  });

  it('says there is no socket where none is, naming DATABASE_URL and the socket file, password masked (doctor, and a process starting)', async () => {
    const url = 'postgresql://app:sekretpw@/app?host=/nonexistent-taskwire-sockets&port=5999';
    const env = { DATABASE_URL: url, DATABASE_LISTEN_URL: '', AUTH_MODE: 'off', LOG_LEVEL: 'warn', TASK_MODULES: '' };
    const doctor = await runCli(['doctor', '--json'], env);
    const check = (JSON.parse(doctor.stdout) as { checks: Array<{ check: string; status: string; message: string }> }).checks.find((c) => c.check === 'database');
    expect(check).toMatchObject({ status: 'fail' });
    expect(check!.message).toMatch(/^no PostgreSQL socket at \/nonexistent-taskwire-sockets:5999\/app \(\/nonexistent-taskwire-sockets\/\.s\.PGSQL\.5999: no such file\).*Check DATABASE_URL$/);
    const migrate = await runCli(['migrate'], env);
    expect(migrate.code, migrate.stderr).toBe(2);
    expect(migrate.stderr).toContain('no PostgreSQL socket at /nonexistent-taskwire-sockets:5999/app');
    expect(migrate.stderr).toContain('DATABASE_URL=postgresql://app:***@/app?host=');
    expect(doctor.stdout + migrate.stderr).not.toContain('sekretpw');
  });
});

describe('a DATABASE_URL naming an IPv6 address', () => {
  it('connects to that address (postgres.js cut the host at its first `:`)', async () => {
    // Not a PostgreSQL: a listener on ::1 that counts who connects (the run's server is on 127.0.0.1).
    const accepted: Socket[] = [];
    const server = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const { port } = server.address() as AddressInfo;
    const db = createDb(`postgres://app:pw@[::1]:${port}/app`, { max: 1 });
    try {
      // Never answered (the listener speaks no PostgreSQL): its connection is what this looks for.
      db.sql`SELECT 1`.catch(() => undefined);
      await waitFor(() => accepted.length > 0, { message: 'a connection to [::1]', timeoutMs: 5000 });
    } finally {
      await db.sql.end({ timeout: 0 });
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
