import { createServer, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { ConfigError, isDatabaseUnavailable } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { exampleTasks } from '../../src/worker/examples.js';
import { createRegistry } from '../../src/worker/registry.js';
import { runCli } from '../cli/run-cli.js';
import { createTestDatabase } from '../helpers/database.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/reliability-postgres.js';
import { databaseThroughProxy, statementAfterBufferedCut } from '../helpers/tcp-proxy.js';
import { enableServerTls, setServerCertificate, TEST_PKI as pki } from '../helpers/tls-certificates.js';
import { waitFor } from '../helpers/wait.js';

// DATABASE_URL with libpq's TLS parameters (src/postgres-url.ts), against a PostgreSQL of this file's
// own with TLS on and a certificate for `localhost` signed by the tests' CA (test/fixtures/tls). postgres.js read only
// sslmode and sent sslrootcert, sslcert, sslkey, … to PostgreSQL as settings, which refused the
// connection: `?sslmode=verify-full&sslrootcert=…`, what managed PostgreSQL services document, could
// not connect at all.
let pg: PrivatePostgres;
/** `postgres:…@localhost:port/taskwire`, a superuser's. */
let base: URL;

/** A URL to this file's PostgreSQL with `query` (`host` replaces the host, `user` the user, dropping the password). */
function url(query: string, { host = 'localhost', user }: { host?: string; user?: string } = {}): string {
  const u = new URL(base);
  u.hostname = host;
  if (user) {
    u.username = user;
    u.password = '';
  }
  return `${u.href}?${query}`;
}

/** What the server says of the connection `sql` made: TLS on, as whom. */
async function session(sql: postgres.Sql): Promise<{ ssl: boolean; user: string }> {
  const [row] = await sql<Array<{ ssl: boolean; user: string }>>`SELECT ssl, current_user AS user FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
  return row!;
}

/** Connects with `text` through taskwire's pool: its session, or the error. */
async function connect(text: string): Promise<{ ssl: boolean; user: string } | { error: string; code?: string }> {
  const db = createDb(text, { max: 1 });
  try {
    return await session(db.sql);
  } catch (error) {
    return { error: String((error as Error).message), code: (error as { code?: string }).code };
  } finally {
    await db.sql.end({ timeout: 0 });
  }
}

const DOCTOR_ENV = { DATABASE_LISTEN_URL: '', AUTH_MODE: 'off', LOG_LEVEL: 'warn', TASK_MODULES: '' };

async function doctorDatabase(databaseUrl: string): Promise<{ status: string; message: string }> {
  const result = await runCli(['doctor', '--json'], { ...DOCTOR_ENV, DATABASE_URL: databaseUrl });
  expect(result.stdout, result.stderr).toMatch(/^\{/);
  const report = JSON.parse(result.stdout) as { checks: Array<{ check: string; status: string; message: string }> };
  return report.checks.find((c) => c.check === 'database')!;
}

beforeAll(async () => {
  pg = await startPrivatePostgres();
  base = new URL(pg.url);
  base.hostname = 'localhost';
  await enableServerTls(pg.url, pki, [
    // A role that must show the client certificate signed by the CA (its CN is the role).
    'hostssl all tls_client 127.0.0.1/32 cert',
    // A role refused without TLS, as a server that requires it refuses.
    'hostnossl all tls_only 127.0.0.1/32 reject',
  ]);
  const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE ROLE tls_client LOGIN; CREATE ROLE tls_only LOGIN PASSWORD 'only-pw'`);
  } finally {
    await admin.end();
  }
});
afterAll(async () => {
  await pg?.destroy();
});

describe('a DATABASE_URL with TLS parameters', () => {
  it('verifies the server against ?sslrootcert=: verify-full by its name, verify-ca and require+sslrootcert by the chain alone', async () => {
    const ca = encodeURIComponent(pki.caCert);
    expect(await connect(url(`sslmode=verify-full&sslrootcert=${ca}`))).toEqual({ ssl: true, user: 'postgres' });
    // The certificate names localhost, not 127.0.0.1: the chain is enough for verify-ca, and for
    // require with a CA (libpq's rule), not for verify-full.
    expect(await connect(url(`sslmode=verify-ca&sslrootcert=${ca}`, { host: '127.0.0.1' }))).toEqual({ ssl: true, user: 'postgres' });
    expect(await connect(url(`sslmode=require&sslrootcert=${ca}`, { host: '127.0.0.1' }))).toEqual({ ssl: true, user: 'postgres' });
    expect(await connect(url(`sslmode=verify-full&sslrootcert=${ca}`, { host: '127.0.0.1' }))).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    // ?hostaddr= connects to the address and still checks the name.
    expect(await connect(url(`hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=${ca}`))).toEqual({ ssl: true, user: 'postgres' });
  });

  it('refuses a server its CA did not sign, unless nothing is to be verified', async () => {
    const other = encodeURIComponent(pki.otherCaCert);
    for (const mode of ['verify-full', 'verify-ca', 'require']) {
      expect(await connect(url(`sslmode=${mode}&sslrootcert=${other}`)), mode).toMatchObject({ error: expect.stringMatching(/certificate/i) });
    }
    // Nor with the system's CAs, which never signed the test CA.
    expect(await connect(url('sslmode=verify-full&sslrootcert=system'))).toMatchObject({ error: expect.stringMatching(/certificate/i) });
    expect(await connect(url('sslmode=require'))).toEqual({ ssl: true, user: 'postgres' });
    expect(await connect(url('sslmode=prefer'))).toEqual({ ssl: true, user: 'postgres' });
    expect(await connect(url('sslmode=disable'))).toEqual({ ssl: false, user: 'postgres' });
  });

  it('sends a client certificate (?sslcert=, ?sslkey=, an encrypted key with ?sslpassword=), with which a `cert` role signs in', async () => {
    const files = `sslcert=${encodeURIComponent(pki.clientCert)}&sslrootcert=${encodeURIComponent(pki.caCert)}`;
    expect(await connect(url(`sslmode=verify-full&${files}&sslkey=${encodeURIComponent(pki.clientKey)}`, { user: 'tls_client' }))).toEqual({ ssl: true, user: 'tls_client' });
    const encrypted = `${files}&sslkey=${encodeURIComponent(pki.clientKeyEncrypted)}&sslpassword=${encodeURIComponent(pki.clientKeyPassword)}`;
    expect(await connect(url(`sslmode=verify-full&${encrypted}`, { user: 'tls_client' }))).toEqual({ ssl: true, user: 'tls_client' });
    // Without the certificate the role is refused (the cert method asks for nothing else).
    expect(await connect(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`, { user: 'tls_client' }))).toMatchObject({ code: '28000' });
  });

  it('refuses a server certificate its CA revoked, by ?sslcrl= in PEM or DER, and says so', async () => {
    const ca = `sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`;
    // A pool open before the certificate changes, whose next connection meets it.
    const running = createDb(url(`${ca}&sslcrl=${encodeURIComponent(pki.crl)}`), { max: 1 });
    const [row] = await running.sql<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
    const pid = row!.pid;
    await setServerCertificate(pg.url, 'revoked');
    try {
      const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
      await admin`SELECT pg_terminate_backend(${pid})`.finally(() => admin.end());
      // Refused by its certificate while running: an outage to the requests (DATABASE_UNAVAILABLE, and a
      // worker keeps its results), not a statement's error (INTERNAL_SERVER_ERROR, a tester's find).
      const refused = await running.sql`SELECT 1`.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: 'CERT_REVOKED' });
      expect(isDatabaseUnavailable(refused)).toBe(true);
      await running.sql.end({ timeout: 0 });
      expect(await connect(url(ca))).toEqual({ ssl: true, user: 'postgres' });
      for (const crl of [pki.crl, pki.crlDer]) {
        expect(await connect(url(`${ca}&sslcrl=${encodeURIComponent(crl)}`)), crl).toMatchObject({ code: 'CERT_REVOKED' });
      }
      const doctor = await doctorDatabase(url(`${ca}&sslcrl=${encodeURIComponent(pki.crlDer)}`));
      expect(doctor.message).toMatch(/the certificate of localhost:\d+\/taskwire is revoked by \?sslcrl=/);
      const migrate = await runCli(['migrate'], { ...DOCTOR_ENV, DATABASE_URL: url(`${ca}&sslcrl=${encodeURIComponent(pki.crl)}`) });
      expect(migrate.code, migrate.stderr).toBe(2);
      expect(migrate.stderr).toMatch(/cannot connect to DATABASE_URL=.*is revoked by \?sslcrl=/);
    } finally {
      await setServerCertificate(pg.url, 'server');
    }
    // The certificate in use now is not on the list.
    expect(await connect(url(`${ca}&sslcrl=${encodeURIComponent(pki.crl)}`))).toEqual({ ssl: true, user: 'postgres' });
  });

  it.each([
    ['classic (an SSLRequest first)', ''],
    ['direct (?sslnegotiation=direct, PostgreSQL 17+)', '&sslnegotiation=direct'],
  ])('negotiated %s, a connection closed with a statement buffered connects again at once', async (_, negotiation) => {
    // The stale-write stall (src/db/client.ts, STARTUP_PADDING; test/db/stale-write.test.ts without TLS):
    // with postgres.js's SSLRequest sent through its buffer, the stale bytes stayed unsent and each attempt
    // waited connect_timeout (30 s, some 117 times). Made on a socket of our own (src/db/socket.ts),
    // or not at all (direct), it leaves the padded startup message postgres.js's first write: the cure applies.
    const cut = await statementAfterBufferedCut(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}${negotiation}`), (db) => session(db.sql));
    expect(cut.first).toEqual({ ssl: true, user: 'postgres' });
    expect(cut.buffered).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(cut.next).toEqual([{ three: 3 }]);
    // Not a speed figure: postgres.js's own SSLRequest failed here after connect_timeout's 30 s.
    expect(cut.nextMs).toBeLessThan(10_000);
  });

  it('with the SSLRequest made apart, a connection refused, closed or never answered fails as any, and the pool of one connects later', async () => {
    const verified = `sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}&connect_timeout=1`;
    // Closed before the answer (a proxy that takes and drops every connection), then let through.
    const { proxy, db } = await databaseThroughProxy(url(verified), 1);
    try {
      proxy.cut();
      const closed = await db.sql`SELECT 1`.catch((error: unknown) => error);
      expect(closed).toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(isDatabaseUnavailable(closed)).toBe(true);
      proxy.reopen();
      // The connection that failed went back to the pool (postgres.js keeps one whose socket factory throws).
      expect(await session(db.sql)).toEqual({ ssl: true, user: 'postgres' });
    } finally {
      await db.sql.end({ timeout: 0 });
      await proxy.close();
    }
    // Never answered: connect_timeout (1 s here), as postgres.js's own.
    const accepted: Socket[] = [];
    const silent = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    const quiet = createDb(`postgres://postgres@localhost:${silentPort}/taskwire?${verified}`, { max: 1 });
    try {
      const started = performance.now();
      expect(await quiet.sql`SELECT 1`.catch((error: unknown) => error)).toMatchObject({ code: 'CONNECT_TIMEOUT' });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await quiet.sql.end({ timeout: 0 });
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    // Refused: nothing listens there any more.
    expect(await connect(`postgres://postgres@localhost:${silentPort}/taskwire?${verified}`)).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses at start a file that cannot be used, naming DATABASE_URL and the parameter', () => {
    for (const [query, why] of [
      // What Node's TLS context refuses at each connection threw inside postgres.js: a stack trace, in every process.
      [`sslmode=require&sslcert=${encodeURIComponent(pki.clientCert)}&sslkey=${encodeURIComponent(pki.serverKey)}`, /sslkey= .*server\.key is not the key of its \?sslcert= .*client\.crt/],
      [`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}&sslcrl=${encodeURIComponent(pki.caCert)}`, /sslcrl= .*ca\.crt is not a certificate revocation list/],
      [`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.serverKey)}`, /sslrootcert= .*server\.key is not a PEM certificate/],
      [`sslmode=require&sslcert=${encodeURIComponent(pki.clientCert)}&sslkey=${encodeURIComponent(pki.clientCert)}`, /sslkey= .*client\.crt is not a PEM private key/],
      [`sslmode=require&sslcert=${encodeURIComponent(pki.clientCert)}&sslkey=${encodeURIComponent(pki.clientKeyEncrypted)}`, /sslkey= .*client-encrypted\.key is encrypted and no \?sslpassword= is given/],
      [`sslmode=require&sslcert=${encodeURIComponent(pki.clientCert)}&sslkey=${encodeURIComponent(pki.clientKeyEncrypted)}&sslpassword=wrong`, /\?sslpassword= does not open it/],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ DATABASE_URL: url(query) });
      } catch (e) {
        error = e;
      }
      expect(error, query).toBeInstanceOf(ConfigError);
      expect((error as Error).message, query).toMatch(/DATABASE_URL/);
      expect((error as Error).message, query).toMatch(why);
    }
  });

  it('runs migrations, a worker and its LISTEN connection over verify-full TLS', async () => {
    const tls = url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`);
    await migrateDatabase(tls);
    const deps: Deps = await createDeps(loadConfig({ LOG_LEVEL: 'silent', DATABASE_URL: tls }), { databaseUrl: tls, log: silentLogger, registry: createRegistry(exampleTasks) });
    const runner = deps.createRunner({ concurrency: 2, pollIntervalMs: 60_000 });
    try {
      await runner.start();
      // The poll is a minute away: the task is claimed on its notification, which came over TLS too.
      const task = await deps.queue.enqueue({ name: 'math.copysign', args: [2, -1] });
      await waitFor(async () => (await deps.queue.getTask(task.id))?.status === 'SUCCEEDED', { message: 'the task to succeed', timeoutMs: 20_000 });
      expect(await deps.queue.getTask(task.id)).toMatchObject({ status: 'SUCCEEDED', returnValue: -2 });
      const [row] = await deps.db.sql<Array<{ plain: number }>>`SELECT count(*)::int AS plain FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND NOT s.ssl`;
      expect(row!.plain).toBe(0);
    } finally {
      await runner.stop();
      await deps.close();
    }
  });

  it('doctor: ok over TLS; says what to do when the certificate is not trusted, or the server wants TLS and the URL asks for none', async () => {
    expect(await doctorDatabase(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`))).toMatchObject({ status: 'ok' });
    const untrusted = await doctorDatabase(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.otherCaCert)}`));
    expect(untrusted.status).toBe('fail');
    expect(untrusted.message).toMatch(/certificate of localhost:\d+\/taskwire is not signed by the CA of \?sslrootcert=.*Check DATABASE_URL/);
    const misnamed = await doctorDatabase(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`, { host: '127.0.0.1' }));
    expect(misnamed.message).toMatch(/certificate of 127\.0\.0\.1:\d+\/taskwire does not name 127\.0\.0\.1.*verify-ca/);
    const plain = await doctorDatabase(url('', { user: 'tls_only' }).replace('tls_only@', 'tls_only:only-pw@'));
    expect(plain.status).toBe('fail');
    expect(plain.message).toMatch(/refuses connections without TLS.*\?sslmode=require/);
    const noCertificate = await doctorDatabase(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`, { user: 'tls_client' }));
    expect(noCertificate.message).toMatch(/wants a client certificate .*give \?sslcert=\/path\/client\.crt&sslkey=/);
  });

  it('a process starting says the same in one line naming DATABASE_URL (exit 2), and a server without TLS as such', async () => {
    const key = `sslcert=${encodeURIComponent(pki.clientCert)}&sslkey=${encodeURIComponent(pki.clientKeyEncrypted)}&sslpassword=${encodeURIComponent(pki.clientKeyPassword)}`;
    const untrusted = await runCli(['migrate'], { ...DOCTOR_ENV, DATABASE_URL: url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.otherCaCert)}&${key}`) });
    expect(untrusted.code, untrusted.stderr).toBe(2);
    expect(untrusted.stderr).toMatch(/cannot connect to DATABASE_URL=postgres:\/\/postgres:\*\*\*@localhost:\d+\/taskwire\?sslmode=verify-full.*the certificate of localhost:\d+\/taskwire is not signed by the CA/);
    // The key's password is masked as the user's is.
    expect(untrusted.stderr).toContain('sslpassword=***');
    expect(untrusted.stderr).not.toContain(encodeURIComponent(pki.clientKeyPassword));
    // The run's PostgreSQL has no TLS: asked to require it, postgres.js starts the handshake anyway.
    const database = await createTestDatabase();
    try {
      const noTls = await runCli(['migrate'], { ...DOCTOR_ENV, DATABASE_URL: `${database.url}?sslmode=require` });
      expect(noTls.code, noTls.stderr).toBe(2);
      expect(noTls.stderr).toMatch(/cannot connect to DATABASE_URL=.*closed the connection before TLS was set up.*does it accept TLS \(ssl = on\)\?/);
    } finally {
      await database.drop();
    }
  });
});
