import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CheckResult } from '../../src/db/doctor.js';
import { shippedMigrations } from '../../src/db/doctor.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { withDatabase } from '../helpers/global-setup.js';
import { runCli } from './run-cli.js';

interface Report {
  ok: boolean;
  role: string;
  checks: CheckResult[];
  skipped: string[];
}

// Every variable doctor reads, set here: what the run's own environment holds must not leak in.
const BASE_ENV = {
  DATABASE_LISTEN_URL: '',
  HOST: '127.0.0.1',
  AUTH_MODE: 'off',
  LOG_LEVEL: 'warn',
  METRICS_TOKEN: '',
  METRICS_PORT: '',
  JWT_SECRET: '',
  JWT_JWKS_URL: '',
  JWT_JWKS_FILE: '',
  TASK_MODULES: '',
};
/** A METRICS_TOKEN of the required length, so that only what a test is about warns. */
const METRICS_TOKEN = 'doctor-metrics-token-0123456789';

let database: TestDatabase;
let admin: postgres.Sql;
const extraDatabases: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
});
afterAll(async () => {
  for (const name of extraDatabases) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin?.end();
  await database?.drop();
});

/** A new database on the test server: empty, or a copy of the migrated template. */
async function scratchDatabase(from?: string): Promise<string> {
  const name = `taskwire_doctor_${randomBytes(5).toString('hex')}`;
  await admin.unsafe(`CREATE DATABASE ${name}${from ? ` TEMPLATE ${from}` : ''}`);
  extraDatabases.push(name);
  return withDatabase(inject('adminUrl'), name);
}

async function doctor(env: Record<string, string>, args: string[] = [], cwd?: string): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await runCli(['doctor', '--json', ...args], { ...BASE_ENV, ...env }, 30_000, cwd ? { cwd } : {});
  return { code: result.code, report: JSON.parse(result.stdout) as Report, stderr: result.stderr };
}

const statuses = (report: Report): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.check, c.status]));

describe('taskwire doctor', () => {
  it('passes every check on a migrated database and exits 0, one line per check', async () => {
    const [json, human] = await Promise.all([
      doctor({ DATABASE_URL: database.url }),
      runCli(['doctor'], { ...BASE_ENV, DATABASE_URL: database.url }),
    ]);
    expect(json.code).toBe(0);
    expect(statuses(json.report)).toEqual({ database: 'ok', migrations: 'ok', privileges: 'ok', listen: 'ok', clock: 'ok', auth: 'ok' });
    expect(json.report).toMatchObject({ ok: true, skipped: [] });
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual(json.report.checks.map((c) => ['ok', c.check]));
    expect(lines).toHaveLength(json.report.checks.length + 1);
  });

  it('says in one line that a database on a closed port cannot be reached, exits 1, no stack', async () => {
    const url = `postgres://postgres:x@127.0.0.1:${await freePort()}/nowhere`;
    const human = await runCli(['doctor'], { ...BASE_ENV, DATABASE_URL: url });
    expect(human.code).toBe(1);
    expect(human.stderr).toBe('');
    const failures = human.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^FAIL\s+database\s+\S/);
    expect(failures[0]).toContain('DATABASE_URL');
    expect(human.stdout).not.toMatch(/\n\s+at /);
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ database: 'fail', auth: 'ok' });
    expect(report.skipped).toEqual(['migrations', 'privileges', 'listen', 'clock']);
  });

  it('names every migration pending on an empty database', async () => {
    const url = await scratchDatabase();
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(statuses(report)).toMatchObject({ database: 'ok', migrations: 'fail', listen: 'ok' });
    const message = report.checks.find((c) => c.check === 'migrations')?.message ?? '';
    const shipped = await shippedMigrations();
    for (const m of shipped) expect(message).toContain(m.tag);
    expect(message).toContain('taskwire migrate');
  });

  it('names only the migration a database lacks', async () => {
    const url = await scratchDatabase(inject('templateDb'));
    const shipped = await shippedMigrations();
    const latest = shipped.at(-1)!;
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await sql`DELETE FROM drizzle.__drizzle_migrations WHERE created_at = ${latest.when}`;
    } finally {
      await sql.end();
    }
    const { code, report } = await doctor({ DATABASE_URL: url });
    expect(code).toBe(1);
    const migrations = report.checks.find((c) => c.check === 'migrations');
    expect(migrations?.status).toBe('fail');
    for (const m of shipped) {
      if (m === latest) expect(migrations?.message).toContain(m.tag);
      else expect(migrations?.message).not.toContain(m.tag);
    }
  });

  it('fails the LISTEN check when DATABASE_LISTEN_URL cannot be reached, naming that variable', async () => {
    const listenUrl = `postgres://postgres:x@127.0.0.1:${await freePort()}/nowhere`;
    const { code, report } = await doctor({ DATABASE_URL: database.url, DATABASE_LISTEN_URL: listenUrl });
    expect(code).toBe(1);
    expect(statuses(report)).toEqual({ database: 'ok', migrations: 'ok', privileges: 'ok', listen: 'fail', clock: 'ok', auth: 'ok' });
    expect(report.checks.find((c) => c.check === 'listen')?.message).toContain('DATABASE_LISTEN_URL');
  });

  it('fails the auth check when AUTH_MODE=off meets a HOST other than loopback', async () => {
    const { code, report } = await doctor({ DATABASE_URL: database.url, HOST: '0.0.0.0' });
    expect(code).toBe(1);
    expect(statuses(report)).toMatchObject({ database: 'ok', auth: 'fail' });
  });

  it('applies the start-up rule for --role serve and dev (the default) but not for --role worker, which serves no GraphQL', async () => {
    const env = { DATABASE_URL: database.url, HOST: '0.0.0.0' };
    const [serve, dev, worker] = await Promise.all([doctor(env, ['--role', 'serve']), doctor(env, ['--role', 'dev']), doctor(env, ['--role', 'worker'])]);
    expect(serve).toMatchObject({ code: 1, report: { role: 'serve' } });
    expect(statuses(serve.report).auth).toBe('fail');
    expect(dev).toMatchObject({ code: 1, report: { role: 'dev' } });
    expect(statuses(dev.report).auth).toBe('fail');
    expect(worker.code).toBe(0);
    expect(worker.report).toMatchObject({ ok: true, role: 'worker' });
    expect(statuses(worker.report)).toEqual({ database: 'ok', migrations: 'ok', privileges: 'ok', listen: 'ok', clock: 'ok', auth: 'ok' });
    expect(worker.report.checks.find((c) => c.check === 'auth')?.message).toContain('start-up rule does not apply');
  });

  it('refuses an unknown --role with exit code 2', async () => {
    const result = await runCli(['doctor', '--role', 'scheduler'], { ...BASE_ENV, DATABASE_URL: database.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--role must be one of serve, dev, worker');
  });

  it('warns with --role worker when METRICS_PORT on a network HOST is open to all (auth off, no METRICS_TOKEN)', async () => {
    const env = { DATABASE_URL: database.url, HOST: '0.0.0.0', METRICS_PORT: '9100' };
    const open = await doctor(env, ['--role', 'worker']);
    expect(open.code).toBe(0);
    expect(statuses(open.report).auth).toBe('warn');
    expect(open.report.checks.find((c) => c.check === 'auth')?.message).toContain('METRICS_TOKEN');
    const closed = await doctor({ ...env, METRICS_TOKEN }, ['--role', 'worker']);
    expect(statuses(closed.report).auth).toBe('ok');
  });

  it('warns when AUTH_MODE=on leaves METRICS_TOKEN unset: /metrics then answers 403 to everyone', async () => {
    const unset = await doctor({ DATABASE_URL: database.url, AUTH_MODE: 'on' });
    expect(unset.code).toBe(0);
    expect(statuses(unset.report).auth).toBe('warn');
    expect(unset.report.checks.find((c) => c.check === 'auth')?.message).toMatch(/METRICS_TOKEN is unset.*403/);
    const set = await doctor({ DATABASE_URL: database.url, AUTH_MODE: 'on', METRICS_TOKEN });
    expect(statuses(set.report).auth).toBe('ok');
    // A worker without METRICS_PORT has no /metrics at all.
    const worker = await doctor({ DATABASE_URL: database.url, AUTH_MODE: 'on' }, ['--role', 'worker']);
    expect(statuses(worker.report).auth).toBe('ok');
  });

  it('fails the auth check when the JWT settings would stop a server at start (a JWKS URL and a file)', async () => {
    const { code, report } = await doctor({
      DATABASE_URL: database.url,
      AUTH_MODE: 'on',
      METRICS_TOKEN,
      JWT_JWKS_URL: 'http://127.0.0.1:1/jwks',
      JWT_JWKS_FILE: '/nonexistent/jwks.json',
    });
    expect(code).toBe(1);
    expect(statuses(report).auth).toBe('fail');
    expect(report.checks.find((c) => c.check === 'auth')?.message).toContain('JWT_JWKS_FILE');
  });

  describe('with TASK_MODULES', () => {
    /** A project folder, the working directory: task modules as a user writes them, relative to it. */
    let project: string;
    const definition = (name: string): string => `({ [Symbol.for('taskwire.definition')]: true, name: ${JSON.stringify(name)}, run: async () => null })`;
    beforeAll(async () => {
      project = await mkdtemp(path.join(tmpdir(), 'taskwire-doctor-tasks-'));
      await writeFile(path.join(project, 'package.json'), '{ "type": "module" }\n');
      await writeFile(path.join(project, 'tasks.ts'), `export const a = ${definition('project.b')};\nexport const b = ${definition('project.a')};\n`);
      await writeFile(path.join(project, 'bad.ts'), `const settings: { name: string } | undefined = undefined;\nexport const name: string = settings!.name;\n`);
    });
    afterAll(async () => {
      if (project) await rm(project, { recursive: true, force: true });
    });

    it('loads them as the processes do and names the tasks they register', async () => {
      const { code, report } = await doctor({ DATABASE_URL: database.url, TASK_MODULES: './tasks.ts' }, [], project);
      expect(code).toBe(0);
      expect(statuses(report)).toEqual({ database: 'ok', migrations: 'ok', privileges: 'ok', listen: 'ok', clock: 'ok', auth: 'ok', tasks: 'ok' });
      expect(report.checks.find((c) => c.check === 'tasks')?.message).toBe('TASK_MODULES registers 2 task(s): project.a, project.b');
    });

    it('fails, in the words serve and worker stop with, when a module is not found or throws while loading', async () => {
      const [missing, broken] = await Promise.all([
        doctor({ DATABASE_URL: database.url, TASK_MODULES: './nope.ts' }, [], project),
        doctor({ DATABASE_URL: database.url, TASK_MODULES: './tasks.ts,./bad.ts' }, [], project),
      ]);
      expect(missing.code).toBe(1);
      expect(statuses(missing.report)).toMatchObject({ database: 'ok', auth: 'ok', tasks: 'fail' });
      expect(missing.report.checks.find((c) => c.check === 'tasks')?.message).toBe(
        `TASK_MODULES: ./nope.ts not found (looked for ${path.join(project, 'nope.ts')}); a module path starts with ./ or / and includes its extension; taskwire serve, worker and dev will not start`,
      );
      expect(broken.code).toBe(1);
      expect(broken.report.checks.find((c) => c.check === 'tasks')?.message).toMatch(
        /^TASK_MODULES: loading \.\/bad\.ts failed: Cannot read properties of undefined \(reading 'name'\) \(at .*bad\.ts:2:\d+\); taskwire serve, worker and dev will not start$/,
      );
      const human = await runCli(['doctor'], { ...BASE_ENV, DATABASE_URL: database.url, TASK_MODULES: './nope.ts' }, 30_000, { cwd: project });
      expect(human.stdout).toMatch(/\nFAIL {2}tasks {7}TASK_MODULES: \.\/nope\.ts not found/);
      expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('taskwire doctor: 1 of 7 checks failed (tasks)');
    });
  });

  describe('with JWT_JWKS_URL', () => {
    let jwksServer: Server;
    let base = '';
    beforeAll(async () => {
      const { publicKey } = await generateKeyPair('ES256');
      const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
      jwksServer = createServer((req, res) => {
        if (req.url === '/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
        else if (req.url === '/not-a-jwks') res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}');
        else res.writeHead(404).end('not here');
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => jwksServer?.close(() => resolve()));
    });

    const authCheck = async (jwksUrl: string): Promise<{ code: number | null; status?: string; message: string }> => {
      const { code, report } = await doctor({ DATABASE_URL: database.url, AUTH_MODE: 'on', METRICS_TOKEN, JWT_JWKS_URL: jwksUrl });
      const auth = report.checks.find((c) => c.check === 'auth');
      return { code, status: auth?.status, message: auth?.message ?? '' };
    };

    it('says ok when the URL answers a key set', async () => {
      const { code, status, message } = await authCheck(`${base}/jwks`);
      expect({ code, status }).toEqual({ code: 0, status: 'ok' });
      expect(message).toContain('JWT_JWKS_URL answers with 1 key(s)');
    });

    it('warns (API keys still work) when the URL is on a closed port', async () => {
      const { code, status, message } = await authCheck(`http://127.0.0.1:${await freePort()}/jwks`);
      expect({ code, status }).toEqual({ code: 0, status: 'warn' });
      expect(message).toContain('cannot be fetched (connection refused)');
    });

    it('warns when the URL answers something that is not a JWKS, or an HTTP error', async () => {
      const [notJwks, missing] = await Promise.all([authCheck(`${base}/not-a-jwks`), authCheck(`${base}/nowhere`)]);
      expect(notJwks).toMatchObject({ code: 0, status: 'warn' });
      expect(notJwks.message).toContain('is not a JWKS');
      expect(missing).toMatchObject({ code: 0, status: 'warn' });
      expect(missing.message).toContain('cannot be fetched (HTTP 404)');
    });
  });
});
