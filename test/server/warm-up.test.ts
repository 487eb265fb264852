import type { IncomingMessage } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import type { App } from '../../src/server/app.js';
import { OwnSockets, WARM_UP_PARAM } from '../../src/server/warm-up.js';
import { AUTH_ENV } from '../helpers/auth-credentials.js';
import { createAuthTransports } from '../helpers/auth-transports.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { captureLog } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/wait.js';

// A starting server warms up before /readyz says ready (SERVER_WARM_UP_MS; src/server/warm-up.ts):
// it subscribes to itself over real graphql-ws sockets as resuming clients would, and ends them.
// A transaction holding the tasks table holds the warm-up at its first read, so that what the
// server says meanwhile is seen, not raced.

const made: { core: TestApp; app: App }[] = [];
afterEach(async () => {
  for (const { core, app } of made.splice(0)) {
    await app.stop();
    await core.close();
  }
});

interface Started {
  core: TestApp;
  app: App;
  /** http://127.0.0.1:PORT */
  base: string;
  url: string;
  lines: ReturnType<typeof captureLog>['lines'];
}

/** A database with `tasks` pending tasks; `serve()` then starts a server on it with a warm-up. */
async function prepare(o: { env?: Record<string, string>; tasks: number }): Promise<{ core: TestApp; serve(warmUpMs?: number): Promise<Started> }> {
  const { log, lines } = captureLog('info');
  const core = await createTestApp({ env: o.env, log });
  if (o.tasks > 0) await core.deps.queue.enqueueMany(Array.from({ length: o.tasks }, (_, i) => ({ name: 'math.copysign', args: [i, -1] })));
  return {
    core,
    async serve(warmUpMs = 30_000) {
      const { buildApp } = await import('../../src/server/app.js');
      const app = buildApp(core.deps, { warmUpMs });
      made.push({ core, app });
      const { url } = await app.start(0, '127.0.0.1');
      return { core, app, base: url.slice(0, -'/graphql'.length), url, lines };
    },
  };
}

/** A transaction that has run `first` and stays open until release(). */
async function holdTransaction(sql: Sql, first: (t: Sql) => Promise<unknown>): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let ran!: () => void;
  const hasRun = new Promise<void>((resolve) => {
    ran = resolve;
  });
  const tx = sql.begin(async (t) => {
    await first(t as unknown as Sql);
    ran();
    await released;
  });
  await hasRun;
  return {
    async release() {
      release();
      await tx;
    },
  };
}

/** A transaction holding an ACCESS EXCLUSIVE lock on the tasks table until release(). */
const holdTasks = (sql: Sql): Promise<{ release(): Promise<void> }> => holdTransaction(sql, (t) => t`LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE`);

/** Waits until a backend of this database waits for a lock (the warm-up's read of the newest tasks). */
const lockWaiter = (sql: Sql): Promise<unknown> =>
  waitFor(async () => (await sql`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).length > 0, {
    message: 'the warm-up to wait for the held tasks table',
  });

const readyz = async (base: string): Promise<{ status: number; body: { status: string } }> => {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string } };
};

const eventRows = async (sql: Sql): Promise<number> => Number((await sql`SELECT count(*)::int AS n FROM task_events`)[0]?.n);

describe('the warm-up of a starting server', () => {
  it('says 503 warming until it has subscribed to itself, then ready; every subscription answered and ended, nothing written', async () => {
    const db = await prepare({ tasks: 3 });
    const events = await eventRows(db.core.sql);
    const held = await holdTasks(db.core.sql);
    const s = await db.serve();
    await lockWaiter(db.core.sql);
    expect(await readyz(s.base)).toEqual({ status: 503, body: { status: 'warming' } });
    await held.release();
    const report = await s.app.warmedUp();
    // 3 rounds of 20 sockets × the newest tasks' taskEvents (up to 20: here all 3), and 5 feeds.
    expect(report).toMatchObject({ subscriptions: 3 * (20 * 3 + 5), answered: 3 * (20 * 3 + 5), rounds: 3 });
    expect(report?.stoppedBy).toBeUndefined();
    expect((await readyz(s.base)).body.status).toBe('ready');
    await waitFor(() => s.app.logStats.subscriptions === 0, { message: 'the warm-up subscriptions to end' });
    expect(await eventRows(db.core.sql)).toBe(events);
    expect(s.lines.some((l) => l.msg === `warm-up: ${report?.answered} of ${report?.subscriptions} subscriptions answered in 3 rounds, ${report?.ms} ms`)).toBe(true);
  });

  it('with AUTH_MODE=on its own sockets get in without a credential, and no other socket does meanwhile', async () => {
    const db = await prepare({ env: { ...AUTH_ENV }, tasks: 2 });
    const held = await holdTasks(db.core.sql);
    const s = await db.serve();
    await lockWaiter(db.core.sql);
    const transports = createAuthTransports(s.url);
    try {
      // From the same address, during the warm-up, with no credential: refused as ever.
      expect((await transports.ws().closed).code).toBe(4403);
      expect((await transports.ws({ authorization: 'Bearer nope' }).closed).code).toBe(4403);
      // The warm-up's parameter with a guessed secret: not one of its connections, nor its secret.
      expect((await transports.ws({ [WARM_UP_PARAM]: 'A'.repeat(43) }).closed).code).toBe(4403);
    } finally {
      await transports.closeAll();
    }
    await held.release();
    const report = await s.app.warmedUp();
    expect(report).toMatchObject({ subscriptions: 3 * (20 * 2 + 5), answered: 3 * (20 * 2 + 5), rounds: 3 });
    expect(report?.stoppedBy).toBeUndefined();
    // Its sockets are forgotten with it: the same refusal after it.
    const after = createAuthTransports(s.url);
    try {
      expect((await after.ws().closed).code).toBe(4403);
    } finally {
      await after.closeAll();
    }
  });

  it('a lone pending task: no feed (nothing would follow its cursor), and no wait for one', async () => {
    const s = await (await prepare({ tasks: 1 })).serve();
    const report = await s.app.warmedUp();
    expect(report).toMatchObject({ subscriptions: 3 * 20, answered: 3 * 20, rounds: 3 });
    expect(report?.stoppedBy).toBeUndefined();
  });

  it('a feed held back by an open transaction: each of its subscriptions ended unanswered after its bound, not counted as answered', async () => {
    const db = await prepare({ tasks: 0 });
    // A transaction that wrote, open from before the tasks: the feed is read only below it.
    const open = await holdTransaction(db.core.sql, (t) => t`SELECT pg_current_xact_id()`);
    try {
      await db.core.deps.queue.enqueueMany([0, 1].map((i) => ({ name: 'math.copysign', args: [i, -1] })));
      const s = await db.serve();
      const report = await s.app.warmedUp();
      // 3 rounds of 20 sockets × 2 tasks (answered) and 5 feeds (not): each round waited out the bound.
      expect(report).toMatchObject({ subscriptions: 3 * (20 * 2 + 5), answered: 3 * 20 * 2, rounds: 3 });
      expect(report?.stoppedBy).toBeUndefined();
      expect(report?.ms).toBeGreaterThanOrEqual(3 * 2000);
    } finally {
      await open.release();
    }
  });

  it('on a database without tasks it ends at once, ready', async () => {
    const s = await (await prepare({ tasks: 0 })).serve();
    expect(await s.app.warmedUp()).toMatchObject({ subscriptions: 0, rounds: 0, stoppedBy: 'no tasks yet' });
    expect((await readyz(s.base)).body.status).toBe('ready');
  });

  it('ends at its deadline, says why, and the server is ready all the same', async () => {
    const db = await prepare({ tasks: 5 });
    const held = await holdTasks(db.core.sql);
    try {
      const s = await db.serve(300);
      const report = await s.app.warmedUp();
      expect(report?.stoppedBy).toBe('the deadline (300 ms)');
      expect(report?.subscriptions).toBe(0);
      expect(s.lines.some((l) => l.level === 40 && String(l.msg).endsWith('ended early: the deadline (300 ms)'))).toBe(true);
      expect((await readyz(s.base)).status).toBe(200);
    } finally {
      await held.release();
    }
  });

  it('a stop under way ends it, its sockets closed', async () => {
    const db = await prepare({ tasks: 5 });
    const held = await holdTasks(db.core.sql);
    try {
      const s = await db.serve();
      await lockWaiter(db.core.sql);
      made.splice(0);
      await s.app.stop();
      expect((await s.app.warmedUp())?.stoppedBy).toBe('the server is stopping');
    } finally {
      await held.release();
      await db.core.close();
    }
  });
});

describe('OwnSockets', () => {
  it("knows a connection by all four of its parts and this warm-up's secret, and nothing after the warm-up", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as AddressInfo).port;
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => client.once('connect', resolve));
      const serverSide = await accepted;
      const own = new OwnSockets();
      const secret = own.start();
      own.add(client);
      const request = (socket: Partial<Socket>): IncomingMessage => ({ socket }) as IncomingMessage;
      const params = { [WARM_UP_PARAM]: secret };
      expect(own.owns(request(serverSide), params)).toBe(true);
      expect(own.owns(request(serverSide), { [WARM_UP_PARAM]: `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}` })).toBe(false);
      expect(own.owns(request(serverSide), {})).toBe(false);
      expect(own.owns(request(serverSide), undefined)).toBe(false);
      // The same client address and port towards another local address (the kernel allows it: a
      // tester's way in while the check knew only the client's end).
      const { remoteAddress, remotePort, localPort } = serverSide;
      expect(own.owns(request({ remoteAddress, remotePort, localAddress: '127.0.0.2', localPort }), params)).toBe(false);
      expect(own.owns(request({ remoteAddress, remotePort: (remotePort as number) + 1, localAddress: serverSide.localAddress, localPort }), params)).toBe(false);
      own.end();
      expect(own.owns(request(serverSide), params)).toBe(false);
    } finally {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
