import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createDb, type Db } from '../../src/db/client.js';

export interface TcpProxy {
  /** The GraphQL endpoint through the proxy. */
  url: string;
  /** The proxy's port (for a database URL through it). */
  port: number;
  /**
   * Drops what the server sends on the connections open now (later ones are not touched): the
   * server goes on receiving and running what it is sent (a statement commits) while its answers
   * are lost, as on a network that fails one way, until cut() breaks them.
   */
  dropAnswers(): void;
  /**
   * Holds what the server sends on the connections open now, as a network that delays one way;
   * the returned function sends it all on, in order, and lets later answers through.
   */
  holdAnswers(): () => void;
  /** Delays every answer of the server by `ms` from now on (0: none), as a distant database would: each round trip takes `ms` longer. */
  delayAnswers(ms: number): void;
  /** Cuts every connection, as a network failure would, and refuses new ones until reopen(). */
  cut(): void;
  reopen(): void;
  close(): Promise<void>;
}

/** A TCP proxy to a server on 127.0.0.1:`port` whose connections a test can cut. */
export async function startProxy(port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  /** Server sides whose answers are dropped. */
  const dropping = new Set<Socket>();
  /** Server sides whose answers are held, with what they sent meanwhile. */
  const holding = new Map<Socket, Buffer[]>();
  const downstreamOf = new Map<Socket, Socket>();
  let answerDelayMs = 0;
  const upstreams = new Set<Socket>();
  const proxy: Server = createServer((downstream) => {
    if (!open) {
      downstream.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    downstream.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      const held = holding.get(upstream);
      if (held) {
        held.push(data);
        return;
      }
      if (dropping.has(upstream)) return;
      // Timers of one delay fire in the order they were set: the answers keep theirs.
      if (answerDelayMs > 0) setTimeout(() => downstream.write(data), answerDelayMs);
      else downstream.write(data);
    });
    upstreams.add(upstream);
    downstreamOf.set(upstream, downstream);
    // The server closing its side closes the client's, as the pipe the other way does.
    upstream.on('close', () => {
      dropping.delete(upstream);
      holding.delete(upstream);
      downstreamOf.delete(upstream);
      upstreams.delete(upstream);
      downstream.destroy();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${proxyPort}/graphql`,
    port: proxyPort,
    dropAnswers: () => {
      for (const upstream of upstreams) dropping.add(upstream);
    },
    holdAnswers: () => {
      const mine = [...upstreams].filter((upstream) => !holding.has(upstream));
      for (const upstream of mine) holding.set(upstream, []);
      return () => {
        for (const upstream of mine) {
          const held = holding.get(upstream) ?? [];
          holding.delete(upstream);
          const downstream = downstreamOf.get(upstream);
          for (const data of held) downstream?.write(data);
        }
      };
    },
    delayAnswers: (ms) => {
      answerDelayMs = ms;
    },
    cut: () => {
      open = false;
      dropping.clear();
      for (const s of sockets) s.destroy();
    },
    reopen: () => {
      open = true;
    },
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

/** A pool of `max` connections to the database at `url` through a proxy of its own (to drop its answers, cut it). */
export async function databaseThroughProxy(url: string, max: number): Promise<{ proxy: TcpProxy; db: Db }> {
  const proxy = await startProxy(Number(new URL(url).port));
  const through = new URL(url);
  through.port = String(proxy.port);
  return { proxy, db: createDb(through.toString(), { max }) };
}

/**
 * Cuts `proxy` with a statement of `db` buffered for the immediate that the close cancels, then
 * reopens it; resolves with that statement's error. The close reaches the connection in the next
 * turn's poll phase and its 'close' event in that turn's close phase; a statement sent from that
 * turn's check phase (as the feed's reader sends its next page) is buffered for an immediate of the
 * turn after. postgres.js 3.4 left such bytes in its buffer, ahead of the next connection's first
 * message (src/db/client.ts, STARTUP_PADDING).
 */
async function cutWithStatementBuffered(proxy: TcpProxy, db: Db): Promise<unknown> {
  const buffered = await new Promise<Promise<unknown>>((resolve) => {
    proxy.cut();
    setImmediate(() => setImmediate(() => resolve(db.sql`SELECT 2`.catch((error: unknown) => error))));
  });
  proxy.reopen();
  return buffered;
}

/** What a pool of one through a proxy made of after cutWithStatementBuffered. */
export interface BufferedCut {
  /** What `before` answered on the first connection. */
  first: unknown;
  /** The buffered statement's error. */
  buffered: unknown;
  /** The next statement's rows (`SELECT 3 AS three`), or its error, and how long it took. */
  next: unknown;
  nextMs: number;
}

/**
 * A pool of one to `url` through a proxy of its own: `before` runs on its first connection, then the
 * proxy is cut with a statement buffered (cutWithStatementBuffered) and the next statement is timed.
 */
export async function statementAfterBufferedCut(url: string, before: (db: Db) => Promise<unknown>): Promise<BufferedCut> {
  const { proxy, db } = await databaseThroughProxy(url, 1);
  try {
    const first = await before(db);
    const buffered = await cutWithStatementBuffered(proxy, db);
    const started = performance.now();
    const next = await db.sql`SELECT 3 AS three`.catch((error: unknown) => error);
    return { first, buffered, next, nextMs: performance.now() - started };
  } finally {
    await db.sql.end({ timeout: 0 });
    await proxy.close();
  }
}
