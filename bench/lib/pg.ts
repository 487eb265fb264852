import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';

export interface BenchPostgres {
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * One embedded PostgreSQL in a fresh temp dir with its default settings: fsync and
 * synchronous_commit stay on, no durability shortcuts. `extraFlags` is for profiling only
 * (e.g. loading pg_stat_statements).
 */
export async function startBenchPostgres(extraFlags: string[] = []): Promise<BenchPostgres> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'taskwire-bench-'));
  const pg = await startEmbeddedPostgres({ dataDir, postgresFlags: extraFlags });
  return {
    adminUrl: pg.url,
    async stop() {
      await pg.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function admin(adminUrl: string): postgres.Sql {
  return postgres(adminUrl, { max: 1, onnotice: () => undefined });
}

/** Creates an empty database (or a copy of `template`) and returns its URL. */
export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<string> {
  const sql = admin(adminUrl);
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  } finally {
    await sql.end();
  }
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const sql = admin(adminUrl);
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}

/** A fresh database copied from `template` for one repetition; drop it when done. */
export async function freshDatabase(adminUrl: string, template: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  const url = await createDatabase(adminUrl, name, template);
  return { url, drop: () => dropDatabase(adminUrl, name) };
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

const REPORTED_SETTINGS = ['fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'max_connections', 'work_mem'];

export async function serverInfo(adminUrl: string): Promise<ServerInfo> {
  const sql = admin(adminUrl);
  try {
    const [row] = await sql`SELECT version() AS version`;
    const rows = await sql`SELECT name, setting, unit FROM pg_settings WHERE name = ANY(${REPORTED_SETTINGS})`;
    const settings: Record<string, string> = {};
    for (const r of rows) settings[r.name as string] = `${r.setting as string}${r.unit ? ` ${r.unit as string}` : ''}`;
    return { version: String(row?.version ?? '?'), settings };
  } finally {
    await sql.end();
  }
}
