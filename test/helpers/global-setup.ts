import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { compileSources } from './compiled-sources.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the server's maintenance database; test files create their own databases from the template. */
    adminUrl: string;
    templateDb: string;
    /** The run's compiled sources, which spawned processes run (compiled-sources.ts, spawned-code.ts). */
    compiledDir: string;
  }
}

export const TEMPLATE_DB = 'taskwire_template';

/** The run's PostgreSQL, shared by every project (tier) that asks for it. */
interface SharedServer {
  adminUrl: string;
  compiledDir: string;
  /** Projects using it; the last one to finish stops it. */
  users: number;
  stop(): Promise<void>;
}

/**
 * Every project runs its own global setup, each loaded as a separate module, in the one
 * vitest process: the server is kept on globalThis so that `npm test` (all tiers) starts one.
 */
const KEY = Symbol.for('taskwire.test.postgres');
const shared = globalThis as { [KEY]?: Promise<SharedServer> };

/**
 * One PostgreSQL per run: DATABASE_URL when set, else an embedded server in a temp dir.
 * Migrated once into a template database; every test file copies it (CREATE DATABASE …
 * TEMPLATE), which isolates files that run in parallel.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared[KEY] ??= startServer();
  const server = await shared[KEY];
  server.users += 1;
  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDb', TEMPLATE_DB);
  project.provide('compiledDir', server.compiledDir);
  return async () => {
    server.users -= 1;
    if (server.users > 0) return;
    delete shared[KEY];
    await server.stop();
  };
}

async function startServer(): Promise<SharedServer> {
  // Compiled while PostgreSQL starts: both take a second or two.
  const compiling = compileSources();
  compiling.catch(() => undefined); // awaited below; not unhandled if PostgreSQL fails first
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'taskwire-test-'));
    // fsync=off: the run's cluster is thrown away at its end, so what it writes need not survive a
    // crash of the machine. With fsync every commit waited on the disk, and every file's DROP
    // DATABASE on an immediate checkpoint of the whole cluster (seconds beside a file writing
    // 100,000 tasks); the database tiers ran about a third faster without. What a test sees of
    // PostgreSQL is unchanged (a restart or a killed backend loses nothing the OS has written);
    // the reliability tier's restarted PostgreSQL is its own (reliability-postgres.ts), not this one.
    embedded = await startEmbeddedPostgres({ dataDir, postgresFlags: ['-c', 'max_connections=500', '-c', 'fsync=off'] });
    adminUrl = embedded.url;
  }
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  await migrateDatabase(withDatabase(adminUrl, TEMPLATE_DB));
  const compiled = await compiling;
  return {
    adminUrl,
    compiledDir: compiled.dir,
    users: 0,
    async stop() {
      await compiled.remove();
      if (embedded) await embedded.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
      // As root with a TMPDIR the postgres user cannot enter, the cluster was elsewhere (src/db/embedded.ts).
      if (embedded?.relocated) await rm(embedded.dataDir, { recursive: true, force: true });
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
