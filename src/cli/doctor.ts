import path from 'node:path';
import { createJwtVerifier, jwtConfigured } from '../auth/jwt.js';
import type { Config } from '../config.js';
import { maskUrlIn, maskUrlPassword } from '../masking.js';
import { runDatabaseChecks, type CheckResult, type Target } from '../db/doctor.js';
import { embeddedUrl, runningEmbeddedPort } from '../db/embedded.js';
import { resolveDatabase } from '../db/resolve.js';
import { createLogger } from '../logger.js';
import { assertSafeToServe, isLoopbackHost } from '../server/start-rule.js';
import { taskRegistry } from '../worker/registry.js';
import { EXIT, parseCommand, takePositionals, UsageError } from './args.js';
import type { Io } from './output.js';

/** The database the checks run against, and how to let go of it afterwards. */
interface Subject {
  database: Target;
  listen?: Target;
  release(): Promise<void>;
}

/** What the host runs: `serve` and `dev` serve GraphQL (the start-up rule applies), `worker` does not. */
export const DOCTOR_ROLES = ['serve', 'dev', 'worker'] as const;
export type DoctorRole = (typeof DOCTOR_ROLES)[number];

/** How long the auth check waits for JWT_JWKS_URL, in ms (the server's own fetch waits 5 s). */
export const JWKS_CHECK_TIMEOUT_MS = 3000;

/** How long the tasks check waits for TASK_MODULES to load, in ms (a module may await at its top level). */
export const TASK_MODULES_CHECK_TIMEOUT_MS = 10_000;

/**
 * `taskwire doctor [--role serve|dev|worker] [--json]`: checks the database (reachable, migrated,
 * privileges, LISTEN/NOTIFY, clock) and the configuration, one line each on stdout. Exit 0 when nothing failed
 * (warnings included), 1 otherwise. Without DATABASE_URL it checks the embedded PostgreSQL under
 * DATA_DIR: the one running (`npm start`) when there is one, else it starts it for the checks and
 * stops it after. The role (default `serve`) decides which auth rules apply (checkAuth). With
 * TASK_MODULES set, its modules are loaded as every process loads them (checkTaskModules).
 */
export async function runDoctor(args: string[], config: Config, io: Io): Promise<number> {
  const { values, positionals } = parseCommand('doctor', args, { json: { type: 'boolean' }, role: { type: 'string' } });
  takePositionals('doctor', positionals, []);
  const role = roleOption(values.role);
  const results: CheckResult[] = [];
  let skipped: string[] = [];
  let subject: Subject | undefined;
  try {
    subject = await openSubject(config);
  } catch (error) {
    // An embedded PostgreSQL that cannot start here: its error is already one line saying what to do.
    results.push({ check: 'database', status: 'fail', message: error instanceof Error ? error.message : String(error) });
    skipped = ['migrations', 'privileges', 'listen', 'clock'];
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
  results.push(await checkAuth(config, role));
  if (config.taskModules.length > 0) results.push(await checkTaskModules(config));

  const failed = results.filter((r) => r.status === 'fail');
  if (values.json) {
    io.out(`${JSON.stringify({ ok: failed.length === 0, role, checks: results, skipped })}\n`);
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

function roleOption(value: string | undefined): DoctorRole {
  if (value === undefined) return 'serve';
  if ((DOCTOR_ROLES as readonly string[]).includes(value)) return value as DoctorRole;
  throw new UsageError('doctor', `--role must be one of ${DOCTOR_ROLES.join(', ')}, got "${value}"`, '--role');
}

/**
 * The auth settings as the process of `role` will use them, as one line. Fail: what `serve` and `dev`
 * refuse to start with — the start-up rule (AUTH_MODE against HOST, src/server/start-rule.ts) and JWT
 * settings their verifier refuses. Warn: a JWT_JWKS_URL that cannot be fetched now (API keys and
 * JWT_SECRET tokens still work), a `/metrics` nobody may scrape (auth on, no METRICS_TOKEN), or one
 * anyone on the network may (a worker's METRICS_PORT on a non-loopback HOST, auth off, no token).
 * A worker (`role` worker) serves no GraphQL: neither the start-up rule nor the JWT settings apply.
 */
async function checkAuth(config: Config, role: DoctorRole): Promise<CheckResult> {
  const { mode, metricsToken, jwt } = config.auth;
  const serves = role !== 'worker';
  const reach = isLoopbackHost(config.host) ? 'this machine only' : 'reachable from the network';
  if (serves) {
    try {
      assertSafeToServe(mode, config.host);
      // What the server builds at start: it refuses a JWKS URL beside a file, or a file that is no JWKS.
      if (mode === 'on' && jwtConfigured(jwt)) createJwtVerifier(jwt);
    } catch (error) {
      return { check: 'auth', status: 'fail', message: `taskwire serve and dev will not start: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  const base = serves
    ? `AUTH_MODE=${mode}, HOST=${config.host} (${reach})`
    : `AUTH_MODE=${mode}, HOST=${config.host} (${reach}; --role worker serves no GraphQL, so the start-up rule does not apply)`;
  // A worker exposes /metrics only on METRICS_PORT; a server always does, on PORT.
  const servesMetrics = serves || config.metricsPort !== undefined;
  const notes: string[] = [];
  const warnings: string[] = [];
  if (serves && mode === 'on' && jwt.jwksUrl !== undefined) {
    const jwks = await fetchJwks(jwt.jwksUrl);
    if ('problem' in jwks) {
      warnings.push(`JWT_JWKS_URL ${jwks.problem}: JWTs signed with its keys will be refused (API keys${jwt.secret ? ' and JWT_SECRET tokens' : ''} still work)`);
    } else {
      notes.push(`JWT_JWKS_URL answers with ${jwks.keys} key(s)`);
    }
  }
  if (servesMetrics && metricsToken === undefined && mode === 'on') {
    warnings.push(`METRICS_TOKEN is unset: with AUTH_MODE=on ${serves ? '/metrics' : "the worker's /metrics (METRICS_PORT)"} answers 403 to everyone, Prometheus included; set METRICS_TOKEN (16 characters or more) and give it to the scraper`);
  }
  if (!serves && servesMetrics && metricsToken === undefined && mode === 'off' && !isLoopbackHost(config.host)) {
    warnings.push(`/metrics on METRICS_PORT=${config.metricsPort} is open to whoever reaches HOST=${config.host} (its labels name queues and tasks); set METRICS_TOKEN`);
  }
  const message = [base, ...notes, ...warnings].join('; ');
  return { check: 'auth', status: warnings.length === 0 ? 'ok' : 'warn', message };
}

/**
 * TASK_MODULES loaded here as serve, worker and dev load it at start (src/cli/process.ts): the task
 * names it registers, or the error that would stop them, in their words (src/worker/registry.ts).
 * Runs the modules' top-level code, as those processes do.
 */
async function checkTaskModules(config: Config, timeoutMs = TASK_MODULES_CHECK_TIMEOUT_MS): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`TASK_MODULES: loading did not end within ${timeoutMs / 1000} s (a module awaiting something at its top level?)`)), timeoutMs);
  });
  try {
    const names = (await Promise.race([taskRegistry(config.taskModules), timeout])).names();
    return { check: 'tasks', status: 'ok', message: `TASK_MODULES registers ${names.length} task(s): ${names.join(', ')}` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { check: 'tasks', status: 'fail', message: `${message}; taskwire serve, worker and dev will not start` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The number of keys the JWKS at `url` answers with, or why it is of no use now (`cannot be fetched …`,
 * `is not a JWKS …`, a set without a key). Waits JWKS_CHECK_TIMEOUT_MS at most.
 */
export async function fetchJwks(url: string, timeoutMs = JWKS_CHECK_TIMEOUT_MS): Promise<{ keys: number } | { problem: string }> {
  const shown = maskUrlPassword(url) ?? 'the URL';
  let body: unknown;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!response.ok) {
      await response.body?.cancel();
      return { problem: `${shown} cannot be fetched (HTTP ${response.status})` };
    }
    const text = await response.text();
    try {
      body = JSON.parse(text);
    } catch {
      return { problem: `${shown} is not a JWKS (the answer is not JSON)` };
    }
  } catch (error) {
    // Masked: fetch quotes the URL whole in some errors (one holding `user:password@`, which loadConfig refuses).
    return { problem: `${shown} cannot be fetched (${maskUrlIn(fetchFailure(error, timeoutMs), url)})` };
  }
  const keys = typeof body === 'object' && body !== null ? (body as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) return { problem: `${shown} is not a JWKS (no "keys" array)` };
  const usable = keys.filter((key) => typeof key === 'object' && key !== null && typeof (key as { kty?: unknown }).kty === 'string');
  if (usable.length === 0) return { problem: `${shown} is a JWKS without a key` };
  return { keys: usable.length };
}

/** A failed fetch in words: its timeout, or the network error under undici's "fetch failed". */
function fetchFailure(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  if (e.cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (e.cause?.code === 'ENOTFOUND') return 'host not found';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
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
  const log = createLogger(config.logLevel === 'debug' || config.logLevel === 'trace' ? config.logLevel : 'warn');
  const db = await resolveDatabase(config, log);
  return { database: { url: db.url, source: `the embedded PostgreSQL on DATA_DIR=${config.dataDir}` }, release: () => db.stop() };
}
