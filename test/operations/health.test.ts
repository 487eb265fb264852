import { createServer, type Server, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { createDeps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { buildApp } from '../../src/server/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { captureLog } from '../helpers/log-capture.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { readMetrics, sampleValue } from './metric-values.js';

let server: TestServer;
let base: string;

beforeAll(async () => {
  server = await startTestServer({ runner: false, app: { readyTimeoutMs: 1000 } });
  base = server.url.slice(0, -'/graphql'.length);
});
afterAll(async () => {
  await server?.close();
});

async function get(path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

/** A TCP server that accepts connections and never answers: a database that hangs. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const tcp: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const { port } = tcp.address() as { port: number };
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        tcp.close(() => resolve());
      }),
  };
}

describe('GET /healthz', () => {
  it('answers 200 while the process runs', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('answers HEAD without a body and refuses other methods with 405', async () => {
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/readyz`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('GET /readyz', () => {
  it('answers 200 when the database answers SELECT 1', async () => {
    const res = await get('/readyz');
    expect(res).toMatchObject({ status: 200, body: { status: 'ready', database: { ok: true } } });
    expect((res.body as { database: { latencyMs: number } }).database.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('answers 503 within its timeout when the database does not answer', async () => {
    const hole = await blackHole();
    // The parts made on the test database, then its pool swapped for one on the silent server: createDeps
    // itself on the silent server waited out its start-up reads (the migrations, the clock: 5 s each)
    // before the test began. Everything the app is given as its database (deps.db) is the silent one.
    const real = await createDeps(server.config, { databaseUrl: server.database.url, log: silentLogger });
    const silent = createDb(`postgres://nobody@127.0.0.1:${hole.port}/nothing`, { max: server.config.dbPoolSize });
    const deps = { ...real, db: silent };
    // Not started: start() would LISTEN, which needs the database. yoga.fetch reaches the routes without a socket.
    const app = buildApp(deps, { readyTimeoutMs: 300 });
    try {
      const started = Date.now();
      const res = await app.yoga.fetch('http://localhost/readyz');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', database: { ok: false, error: 'TIMEOUT' } });
      expect((await app.yoga.fetch('http://localhost/healthz')).status).toBe(200);
    } finally {
      await app.stop();
      // A connection still trying the silent server would hold a graceful end() for its 5 s timeout.
      await silent.sql.end({ timeout: 0 });
      await hole.close();
      await real.close();
    }
  });

  it('never cancels another query when its probe times out (postgres.js sends it down a busy connection)', async () => {
    // One connection: postgres.js pipelines the probe behind the slow query, and the next query behind
    // the probe. Cancelling a pipelined query sends a CancelRequest when its turn comes, which cancels
    // whatever the backend runs when it lands (and may leave postgres.js's row count wrong).
    const deps = await createDeps({ ...server.config, dbPoolSize: 1 }, { databaseUrl: server.database.url, log: silentLogger });
    const app = buildApp(deps, { readyTimeoutMs: 200 });
    try {
      // Both statements prepared first: postgres.js pipelines a prepared statement onto a busy connection.
      expect((await app.yoga.fetch('http://localhost/readyz')).status).toBe(200);
      const sleep = (seconds: number) => deps.db.sql`SELECT pg_sleep(${seconds}), 'finished' AS result`;
      await sleep(0);
      const slow = sleep(1.2).execute();
      await waitFor(async () => {
        const [row] = await server.sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep($1)%' AND state = 'active'`;
        return Number(row?.n) === 1;
      }, { message: 'the slow query running' });
      const res = await app.yoga.fetch('http://localhost/readyz');
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ database: { ok: false, error: 'TIMEOUT' } });
      // Sent behind the probe on the same connection: the probe's CancelRequest, sent when its turn
      // comes, reached the backend while this one ran (SELECT 1 is done in microseconds).
      const behind = sleep(0.5).execute();
      expect((await slow)[0]?.result).toBe('finished');
      expect((await behind)[0]?.result).toBe('finished');
      // The probe ran after it, and the connection still reads its answers right.
      expect(await deps.db.sql`SELECT 42 AS n`).toEqual([{ n: 42 }]);
      expect((await app.yoga.fetch('http://localhost/readyz')).status).toBe(200);
    } finally {
      await app.stop();
      await deps.db.close();
    }
  });

  it('answers 503 while the database refuses connections, and 200 again once it is back', async () => {
    // A database of its own: the outage must not touch the other tests' server.
    const database = await createTestDatabase();
    const captured = captureLog('warn');
    const deps = await createDeps(server.config, { databaseUrl: database.url, log: captured.log });
    const app = buildApp(deps);
    const { url } = await app.start(0, '127.0.0.1');
    const readyz = async (): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(url.replace(/\/graphql$/, '/readyz'));
      return { status: res.status, body: await res.json() };
    };
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
    const name = new URL(database.url).pathname.slice(1);
    try {
      expect((await readyz()).status).toBe(200);
      // ALLOW_CONNECTIONS applies to superusers too (CONNECTION LIMIT would not).
      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name} AND pid <> pg_backend_pid()`;
      expect(await readyz()).toEqual({ status: 503, body: { status: 'unavailable', database: { ok: false, error: 'UNREACHABLE' } } });
      // An operation meanwhile says what is wrong, not INTERNAL_SERVER_ERROR (the CLI exits 3 on it).
      const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ queueStats { queue } }' }) });
      const { errors } = (await answer.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(errors[0]).toMatchObject({ extensions: { code: 'DATABASE_UNAVAILABLE' }, message: expect.stringMatching(/database is unavailable/) });
      // The outage is one warn line in the log, not an error line with a stack per request.
      for (let i = 0; i < 3; i++) {
        await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ queueStats { queue } }' }) });
      }
      const graphqlLines = captured.lines.filter((l) => l.component === 'graphql');
      expect(graphqlLines.filter((l) => l.level >= 50)).toEqual([]);
      expect(graphqlLines.map((l) => [l.level, l.msg])).toEqual([[40, 'the database is unavailable: requests answered DATABASE_UNAVAILABLE']]);
      // /metrics still answers, without the queue series.
      expect((await fetch(url.replace(/\/graphql$/, '/metrics'))).status).toBe(200);
      const metrics = await readMetrics(app.metrics);
      expect(sampleValue(metrics, 'taskwire_queue_stats_up')).toBe(0);
      expect(metrics.get('taskwire_queue_tasks')?.values).toEqual([]);
      expect(sampleValue(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(0);

      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await waitFor(async () => (await readyz()).status === 200, { message: '/readyz to recover', timeoutMs: 10_000 });
    } finally {
      await admin.unsafe(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
      await app.stop();
      // postgres.js: a pool whose query met a connection killed under it waits out end()'s timeout.
      await deps.db.sql.end({ timeout: 0 });
      await database.drop();
    }
  });

  it('answers 503 once the server is stopping, before its socket closes', async () => {
    const app = buildApp(server.deps);
    await app.start(0, '127.0.0.1');
    expect((await app.yoga.fetch('http://localhost/readyz')).status).toBe(200);
    const stopped = app.stop();
    const res = await app.yoga.fetch('http://localhost/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'stopping' });
    await stopped;
  });
});
