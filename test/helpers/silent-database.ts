import { createServer, type Socket } from 'node:net';
import { createDb, type Db } from '../../src/db/client.js';

export interface SilentDatabase {
  /** A pool of one connection to it. */
  db: Db;
  /** Connections it accepted (and never answers). */
  accepted: readonly Socket[];
  /** Stops accepting at once: new connections are refused; those accepted stay open and silent. */
  stopListening(): void;
  /** Closes the pool and every accepted connection. */
  close(): Promise<void>;
}

/**
 * A "database" on loopback that accepts connections and says nothing (a hung server, a stuck
 * network), then, told so, refuses new ones (a stopped server): a statement sent to it stays
 * unanswered throughout, which a real PostgreSQL stopped under a test shows only now and then.
 */
export async function startSilentDatabase(): Promise<SilentDatabase> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const db = createDb(`postgres://taskwire@127.0.0.1:${address.port}/taskwire`, { max: 1 });
  return {
    db,
    accepted,
    // close() stops listening at once; its callback would wait for the accepted connections to end.
    stopListening: () => void server.close(),
    async close() {
      for (const socket of accepted) socket.destroy();
      server.close();
      await db.close();
    },
  };
}
