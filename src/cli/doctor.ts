import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { runDatabaseChecks, type CheckResult, type Target } from '../db/doctor.js';
import { DEFAULT_SHARED_DIR } from '../db/embedded-access.js';
import { embeddedUrl, isAlive } from '../db/embedded.js';
import { resolveDatabase } from '../db/resolve.js';
import { createLogger } from '../logger.js';
import { assertSafeToServe, isLoopbackHost } from '../server/start-rule.js';
import { EXIT, parseCommand, takePositionals } from './args.js';
import type { Io } from './output.js';

/** The database the checks run against, and how to let go of it afterwards. */
interface Subject {
  database: Target;
  listen?: Target;
  release(): Promise<void>;
}

/**
 * `taskwire doctor [--json]`: checks the database (reachable, migrated, LISTEN/NOTIFY, clock) and
 * the configuration, one line each on stdout. Exit 0 when nothing failed (warnings included), 1
 * otherwise. Without DATABASE_URL it checks the embedded PostgreSQL under DATA_DIR: the one
 * running (`npm start`) when there is one, else it starts it for the checks and stops it after.
 */
export async function runDoctor(args: string[], config: Config, io: Io): Promise<number> {
  const { values, positionals } = parseCommand('doctor', args, { json: { type: 'boolean' } });
  takePositionals('doctor', positionals, []);
  const results: CheckResult[] = [];
  let skipped: string[] = [];
  let subject: Subject | undefined;
  try {
    subject = await openSubject(config);
  } catch (error) {
    // An embedded PostgreSQL that cannot start here: its error is already one line saying what to do.
    results.push({ check: 'database', status: 'fail', message: error instanceof Error ? error.message : String(error) });
    skipped = ['migrations', 'listen', 'clock'];
  }
  if (subject) {
    try {
      const checked = await runDatabaseChecks({ database: subject.database, ...(subject.listen ? { listen: subject.listen } : {}) });
      results.push(...checked.results);
      skipped = checked.skipped;
    } finally {
      await subject.release();
    }
  }
  results.push(checkAuth(config));

  const failed = results.filter((r) => r.status === 'fail');
  if (values.json) {
    io.out(`${JSON.stringify({ ok: failed.length === 0, checks: results, skipped })}\n`);
  } else {
    const width = Math.max(...results.map((r) => r.check.length));
    for (const r of results) io.out(`${LABEL[r.status]}  ${r.check.padEnd(width)}  ${r.message}\n`);
    io.out(`${summary(results, skipped)}\n`);
  }
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function summary(results: CheckResult[], skipped: string[]): string {
  const failed = results.filter((r) => r.status === 'fail').map((r) => r.check);
  const warned = results.filter((r) => r.status === 'warn').map((r) => r.check);
  const parts = [
    failed.length === 0 ? `all ${results.length} checks passed` : `${failed.length} of ${results.length} checks failed (${failed.join(', ')})`,
    ...(warned.length > 0 ? [`${warned.length} warning(s) (${warned.join(', ')})`] : []),
    ...(skipped.length > 0 ? [`not checked without a database: ${skipped.join(', ')}`] : []),
  ];
  return `taskwire doctor: ${parts.join('; ')}`;
}

/** AUTH_MODE against HOST: the start-up rule `taskwire serve` and `dev` apply (src/server/start-rule.ts). */
function checkAuth(config: Config): CheckResult {
  const { mode } = config.auth;
  try {
    assertSafeToServe(mode, config.host);
  } catch (error) {
    return { check: 'auth', status: 'fail', message: `taskwire serve and dev will not start: ${error instanceof Error ? error.message : String(error)}` };
  }
  const reach = isLoopbackHost(config.host) ? 'this machine only' : 'reachable from the network';
  return { check: 'auth', status: 'ok', message: `AUTH_MODE=${mode}, HOST=${config.host} (${reach})` };
}

async function openSubject(config: Config): Promise<Subject> {
  const release = async (): Promise<void> => undefined;
  if (config.databaseUrl) {
    return {
      database: { url: config.databaseUrl, source: 'DATABASE_URL' },
      ...(config.databaseListenUrl ? { listen: { url: config.databaseListenUrl, source: 'DATABASE_LISTEN_URL' } } : {}),
      release,
    };
  }
  const dataDir = path.resolve(config.dataDir);
  // Never start the embedded server while `npm start` runs one on the same data: starting it
  // stops a server found running there (src/db/embedded.ts), which would be the live one.
  const port = await runningEmbeddedPort(dataDir);
  if (port !== undefined) return { database: { url: embeddedUrl(port), source: `the embedded PostgreSQL running on DATA_DIR=${config.dataDir}` }, release };
  const log = createLogger(config.logLevel === 'debug' ? 'debug' : 'warn');
  const db = await resolveDatabase(config, log);
  return { database: { url: db.url, source: `the embedded PostgreSQL on DATA_DIR=${config.dataDir}` }, release: () => db.stop() };
}

/**
 * The port of an embedded PostgreSQL running on `dataDir`, read from its `postmaster.pid` (line 1
 * the pid, line 4 the port, PostgreSQL's documented layout) when that process is alive. As root
 * the cluster may be under DEFAULT_SHARED_DIR instead, in a directory whose `data-dir` file names
 * `dataDir` (src/db/embedded-access.ts).
 */
export async function runningEmbeddedPort(dataDir: string): Promise<number | undefined> {
  for (const root of [dataDir, ...(await relocatedRoots(dataDir))]) {
    let text: string;
    try {
      text = await readFile(path.join(root, 'pg', 'postmaster.pid'), 'utf8');
    } catch {
      continue;
    }
    const [pid, , , port] = text.split('\n').map(Number);
    if (isAlive(pid) && Number.isInteger(port) && (port as number) > 0) return port;
  }
  return undefined;
}

async function relocatedRoots(dataDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(DEFAULT_SHARED_DIR)).filter((e) => e.startsWith('data-'));
  } catch {
    return [];
  }
  const roots: string[] = [];
  for (const entry of entries) {
    const root = path.join(DEFAULT_SHARED_DIR, entry);
    const named = await readFile(path.join(root, 'data-dir'), 'utf8').catch(() => '');
    if (named.trim() === dataDir) roots.push(root);
  }
  return roots;
}
