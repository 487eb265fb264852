import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/db/embedded.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createDeps } from '../../src/deps.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runCli } from './run-cli.js';

// What a process says when it cannot start for a reason the environment decides: one line naming
// the variable, exit code 2 (docs/cli.md), never "unexpected error" and never a stack, as a user
// who installed the package into a fresh project meets it. A project folder of task modules is
// the working directory, as it is for `npx taskwire worker`.
let database: TestDatabase;
let project: string;

/** What defineTask returns, written by a module that cannot import this checkout's sources. */
const definition = (name: string): string => `({ [Symbol.for('taskwire.definition')]: true, name: ${JSON.stringify(name)}, run: async () => null })`;

beforeAll(async () => {
  database = await createTestDatabase();
  project = await mkdtemp(path.join(tmpdir(), 'taskwire-start-errors-'));
  await writeFile(path.join(project, 'package.json'), '{ "type": "module" }\n');
  await writeFile(path.join(project, 'tasks.ts'), `export const hello = ${definition('project.hello')};\n`);
  await mkdir(path.join(project, 'jobs'));
  await writeFile(path.join(project, 'jobs', 'index.js'), `export const job = ${definition('project.job')};\n`);
  // Fails at its top level on line 4, as a module reading a configuration that is not there does.
  await writeFile(
    path.join(project, 'bad.ts'),
    `interface Settings { name: string }\nconst settings = (globalThis as { settings?: Settings }).settings;\n\nexport const name: string = settings!.name;\nexport const task = ${definition('project.bad')};\n`,
  );
  // Exists, but one of its own imports does not: the module's fault, not the path's.
  await writeFile(path.join(project, 'inner.js'), `import './helpers.js';\nexport const task = ${definition('project.inner')};\n`);
});
afterAll(async () => {
  await database?.drop();
  if (project) await rm(project, { recursive: true, force: true });
});

/** `taskwire <command>` in the project folder; the database is real, so that a start that gets past the check runs. */
function taskwire(command: string, env: Record<string, string>): ReturnType<typeof runCli> {
  return runCli([command], { DATABASE_URL: database.url, DATABASE_LISTEN_URL: '', TASK_MODULES: '', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '', ...env }, 30_000, {
    cwd: project,
  });
}

const lastLine = (stderr: string): string => stderr.trimEnd().split('\n').at(-1) ?? '';
const HOW = 'a module path starts with ./ or / and includes its extension';

describe('TASK_MODULES that cannot be found', () => {
  it.each([
    ['./nope.ts', `TASK_MODULES: ./nope.ts not found (looked for ${'<project>'}/nope.ts); ${HOW}`],
    ['./tasks', `TASK_MODULES: ./tasks not found (looked for <project>/tasks); ${HOW}: did you mean ./tasks.ts?`],
    ['tasks.ts', `TASK_MODULES: tasks.ts not found: without ./ or / it names a package, and no package "tasks.ts" is installed; ${HOW}: did you mean ./tasks.ts (<project>/tasks.ts)?`],
    ['./jobs', `TASK_MODULES: ./jobs is a directory (<project>/jobs); ${HOW}: did you mean ./jobs/index.js?`],
  ])('TASK_MODULES=%s: exit 2, one line naming the variable, what was looked for and what to write', async (spec, expected) => {
    const result = await taskwire('worker', { TASK_MODULES: spec });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([`taskwire: ${expected.replaceAll('<project>', project)}`]);
  });

  it('refuses before it touches the database: serve names the module too', async () => {
    const result = await taskwire('serve', { TASK_MODULES: './nope.ts', DATABASE_URL: `postgres://postgres:x@127.0.0.1:${await freePort()}/nowhere` });
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toMatch(/^taskwire: TASK_MODULES: \.\/nope\.ts not found/);
  });
});

describe('TASK_MODULES that fail to load', () => {
  it('names the variable, the module, its error and the line it failed on; exit 2, no stack', async () => {
    const result = await taskwire('worker', { TASK_MODULES: './tasks.ts,./bad.ts' });
    expect(result.code).toBe(2);
    const prefix = `taskwire: TASK_MODULES: loading ./bad.ts failed: Cannot read properties of undefined (reading 'name') (at ${path.join(project, 'bad.ts')}:4:`;
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/:4:\d+\)$/)]);
    expect(result.stderr.startsWith(prefix)).toBe(true);
  });

  it('logs the stack at LOG_LEVEL=debug, as every process failure', async () => {
    const result = await taskwire('worker', { TASK_MODULES: './bad.ts', LOG_LEVEL: 'debug' });
    expect(result.code).toBe(2);
    const logged = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; err?: { stack?: string } })
      .find((entry) => entry.msg === 'taskwire worker failed');
    expect(logged?.err?.stack).toContain(`caused by: TypeError: Cannot read properties of undefined (reading 'name')`);
    expect(logged?.err?.stack).toContain(`${path.join(project, 'bad.ts')}:4:`);
    // The log's line and main's (its order is the log's: pino flushes at exit).
    expect(result.stderr.split('\n').filter((line) => line.startsWith('taskwire: '))).toEqual([expect.stringMatching(/^taskwire: TASK_MODULES: loading \.\/bad\.ts failed: /)]);
  });

  it('reports a missing import inside a module that exists as that module failing, not as a wrong path', async () => {
    const result = await taskwire('worker', { TASK_MODULES: './inner.js' });
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toBe(
      `taskwire: TASK_MODULES: loading ./inner.js failed: Cannot find module '${path.join(project, 'helpers.js')}' imported from ${path.join(project, 'inner.js')}`,
    );
  });
});

describe('a configuration that does not hold', () => {
  it('prints each problem on its own line (not an escaped \\n), never the secret', async () => {
    const result = await taskwire('worker', { DATABASE_URL: database.url, METRICS_TOKEN: 'abcdef', PORT: 'x' });
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('taskwire: Invalid configuration:');
    expect(lines.slice(1).sort()).toEqual([expect.stringMatching(/^ {2}METRICS_TOKEN \(6 characters, not shown\): must be at least 16 characters/), expect.stringMatching(/^ {2}PORT=/)].sort());
    expect(result.stderr).not.toContain('abcdef');
  });
});

describe('a DATABASE_URL that cannot be reached at start', () => {
  it.each(['worker', 'migrate'])('%s: nothing listening there: exit 2, one line naming DATABASE_URL, the password masked', async (command) => {
    const port = await freePort();
    const result = await taskwire(command, { DATABASE_URL: `postgres://app:s3cret@127.0.0.1:${port}/app` });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `taskwire: cannot connect to DATABASE_URL=postgres://app:***@127.0.0.1:${port}/app: nothing accepts connections at 127.0.0.1:${port}/app (connection refused): is PostgreSQL running there? Check DATABASE_URL`,
    ]);
  });

  it('a password the server refuses, and a host that does not resolve', async () => {
    const wrong = new URL(database.url);
    wrong.password = 'not-the-password';
    const [refused, unknown] = await Promise.all([
      taskwire('worker', { DATABASE_URL: wrong.href }),
      taskwire('worker', { DATABASE_URL: 'postgres://app:s3cret@taskwire-nowhere.invalid:5432/app' }),
    ]);
    expect(refused.code).toBe(2);
    expect(lastLine(refused.stderr)).toMatch(/^taskwire: cannot connect to DATABASE_URL=postgres:\/\/\w+:\*\*\*@.* refused user "\w+" \(28P01: .*\): check the user and password in DATABASE_URL$/);
    expect(refused.stderr).not.toContain('not-the-password');
    expect(unknown.code).toBe(2);
    expect(lastLine(unknown.stderr)).toMatch(/^taskwire: cannot connect to DATABASE_URL=postgres:\/\/app:\*\*\*@taskwire-nowhere\.invalid:5432\/app: (the host of .* is not found \(DNS\)|.* cannot be reached)/);
    expect(unknown.stderr).not.toContain('s3cret');
  });

  it('a server with no connection left for it (too many clients): exit 2, one line saying so, not "unexpected error"', async () => {
    // A role allowed no connection gets the SQLSTATE of a server at max_connections (53300), on this file's database alone.
    const role = `tw_full_${process.pid}`;
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
    try {
      await admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'full' CONNECTION LIMIT 0`);
      const url = new URL(database.url);
      url.username = role;
      url.password = 'full';
      const result = await taskwire('worker', { DATABASE_URL: url.href });
      expect(result.code).toBe(2);
      expect(lastLine(result.stderr)).toMatch(/^taskwire: cannot connect to DATABASE_URL=postgres:\/\/\w+:\*\*\*@.*has no connection left \(too many clients\): raise max_connections, lower DB_POOL_SIZE, or put PgBouncer in front$/);
    } finally {
      await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  it('migrateDatabase and createDeps, as a program of the user\'s calls them, say that DATABASE_URL is not set', async () => {
    const config = loadConfig({});
    const errors = await Promise.all([
      migrateDatabase(config.databaseUrl!).then(() => undefined, (e: unknown) => e),
      createDeps(config, { databaseUrl: config.databaseUrl!, log: silentLogger }).then(async (deps) => void (await deps.close()), (e: unknown) => e),
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'DATABASE_URL', message: expect.stringMatching(/^DATABASE_URL is not set: /) });
    }
  });
});

// `--queues $QUEUES` with QUEUES unset or misspelled made a dedicated worker claim from every queue.
describe('taskwire worker --queues naming no queue', () => {
  it.each(['', ',', ' , '])('refuses --queues %j with exit 2, before it touches the database', async (value) => {
    const result = await runCli(['worker', '--queues', value], { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--queues must name at least one queue');
  });
});

// `taskwire migrate` is a release step: its line tells "applied N" from "nothing to do".
describe('taskwire migrate on a database already up to date', () => {
  it('says none is pending and exits 0', async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: database.url, DATABASE_LISTEN_URL: '', LOG_LEVEL: 'warn' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^migrations: none pending \(\d+ applied\)\n$/);
  });
});
