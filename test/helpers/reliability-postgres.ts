import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { freePort } from './reliability-processes.js';

export interface PrivatePostgres {
  /** URL of the migrated `taskwire` database on this server. */
  url: string;
  port: number;
  /** Stops the server (fast shutdown: sessions are cut, as in a real restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL of this test file's own (embedded, in a temp dir, on a fixed port), so that
 * it can be stopped and started without disturbing the shared server other files use.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'taskwire-reliability-'));
  const port = await freePort();
  let server: EmbeddedDatabase | undefined = await startEmbeddedPostgres({ dataDir, port });
  const admin = postgres(server.url, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe('CREATE DATABASE taskwire');
  } finally {
    await admin.end();
  }
  const u = new URL(server.url);
  u.pathname = '/taskwire';
  const url = u.toString();
  await migrateDatabase(url);
  return {
    url,
    port,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      server = await startEmbeddedPostgres({ dataDir, port });
    },
    async destroy() {
      await server?.stop();
      server = undefined;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
