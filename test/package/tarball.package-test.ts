import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, SKIP_BROWSER } from '../helpers/chromium.js';
import { createScratchProject, packTarball, ROOT, run, start, userEnv, type LongRunning } from './scratch-project.js';

/**
 * The package as people get it: `npm pack` (which builds dist/), installed into a project
 * outside the repository, then used the three ways the README shows — the core from a plain
 * Node program, the client bundled for a browser, and the `taskwire` command. Nothing here runs
 * this repository's sources: only what the tarball holds.
 */

const FIXTURES = new URL('./fixtures/', import.meta.url);

/** A task module in TypeScript, as in the README (`TASK_MODULES=./tasks.ts`): tsx loads it. */
const TASKS_TS = `import { defineTask } from 'taskwire';

export const add = defineTask({
  name: 'scratch.add',
  run: async ([a, b]: number[]): Promise<number> => a + b,
});
`;

/**
 * A strict TypeScript program using the package's types as installed (dist/*.d.ts): a definition's
 * arguments, keyword arguments and result reach taskInput, the client's enqueue<typeof def> and
 * wait<TaskResult<…>>; each `@ts-expect-error` is a mistake the compiler must catch (an unused one
 * is itself an error).
 */
const TYPED_MTS = `import { z } from 'zod';
import { createClient, defineTask, runHandler, taskInput, type Queue, type TaskArgs, type TaskResult } from 'taskwire';
import type { TaskTypes } from 'taskwire/client';

export const resize = defineTask({
  name: 'images.resize',
  args: z.tuple([z.string(), z.number().int()]),
  kwargs: z.object({ quality: z.number().default(80) }),
  run: async ([file, width], ctx) => ({ file, width, quality: ctx.kwargs.quality }),
});

export const args: TaskArgs<typeof resize> = ['a.png', 640];
// @ts-expect-error the width is a number
export const wrong: TaskArgs<typeof resize> = ['a.png', '640'];
export const result: TaskResult<typeof resize> = { file: 'a', width: 1, quality: 80 };
// @ts-expect-error no such field in the result
export const height = result.height;

export async function use(queue: Queue): Promise<number> {
  await queue.enqueue(taskInput(resize, ['a.png', 640], { kwargs: {}, priority: 5 }));
  // @ts-expect-error the arguments are checked against the schema
  taskInput(resize, ['a.png']);
  // @ts-expect-error and so are the keyword arguments
  taskInput(resize, ['a.png', 640], { kwargs: { quality: 'high' } });
  // @ts-expect-error the call's own types do not widen the definition's (a tuple one longer)
  taskInput(resize, ['a.png', 640, 'extra']);
  const client = createClient({ url: 'http://127.0.0.1:4000/graphql' });
  const { task } = await client.enqueue<typeof resize>('images.resize', ['a.png', 640], { kwargs: { quality: 90 }, readToken: true });
  // @ts-expect-error enqueue<typeof def> checks the arguments
  await client.enqueue<typeof resize>('images.resize', [640, 'a.png']);
  await client.enqueue('anything', [1, 'two', { three: 3 }]);
  const fits: TaskTypes = resize;
  void fits;
  // A unit test's run: the result typed from the definition once its outcome says it succeeded.
  const run = await runHandler(resize, ['a.png', 640], { kwargs: { quality: 70 } });
  if (run.outcome === 'succeeded') void (run.result.quality satisfies number);
  // @ts-expect-error result is there only for a success
  void run.result;
  // @ts-expect-error runHandler checks the arguments as enqueue does
  await runHandler(resize, [640]);
  // The feed's events carry their task when asked for, also when that is known only at run time.
  for await (const event of client.feed({ withTask: true })) void (event.task.version satisfies number);
  const withTask = process.env.WITH_TASK === '1';
  for await (const event of client.feed({ withTask })) void (event.task?.version satisfies number | undefined);
  // @ts-expect-error no task without withTask
  for await (const event of client.feed({ filter: { queue: 'q' } })) void event.task;
  return (await client.wait<TaskResult<typeof resize>>(task.id)).width;
}
`;

let work: string;
let scratch: string;
let dev: LongRunning | undefined;
let devUrl = '';
const database = { name: `taskwire_package_${process.pid}`, url: '' };

async function admin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(inject('adminUrl'), { max: 1, onnotice: () => undefined });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'taskwire-pack-'));
  scratch = await createScratchProject(await packTarball(work));
  // An empty database: the program's migrateDatabase must find the migrations inside the package.
  await admin((sql) => sql.unsafe(`CREATE DATABASE ${database.name}`));
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${database.name}`;
  database.url = url.href;
}, 900_000);

afterAll(async () => {
  if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
    process.kill(-dev.child.pid!, 'SIGKILL');
    await dev.exited;
  }
  await admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`));
  if (scratch) await rm(scratch, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the installed tarball', () => {
  it('holds the built code, the migrations, the schema and the dashboard, and no sources or tests', async () => {
    const pkg = path.join(scratch, 'node_modules', 'taskwire');
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/cli/main.js', 'bin/taskwire.js', 'drizzle/meta/_journal.json', 'schema/schema.graphql', 'dist/dashboard/index.html', 'dist/dashboard/app.js', 'README.md', 'LICENSE']) {
      expect(existsSync(path.join(pkg, file)), file).toBe(true);
    }
    for (const dir of ['src', 'test', 'bench', 'scripts']) expect(existsSync(path.join(pkg, dir)), dir).toBe(false);
  });

  it('(a) a plain Node ESM program defines a task, enqueues it in its own transaction and gets the result', async () => {
    await copyFile(new URL('program.mjs', FIXTURES), path.join(scratch, 'program.mjs'));
    const ran = await run(process.execPath, ['program.mjs'], { cwd: scratch, env: userEnv({ DATABASE_URL: database.url, LOG_LEVEL: 'warn' }), timeoutMs: 120_000 });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    // The database was empty: the migrations came from the package's drizzle/.
    expect(JSON.parse(ran.stdout)).toEqual({ status: 'SUCCEEDED', returnValue: 42, alone: ['succeeded', 8] });
  });

  it('(b) a strict TypeScript program type-checks against the installed types: a definition types taskInput and the client\'s enqueue', async () => {
    await writeFile(path.join(scratch, 'typed.mts'), TYPED_MTS);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck'];
    const types = ['--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--types', 'node'];
    const checked = await run(process.execPath, [tsc, ...flags, ...types, 'typed.mts'], { cwd: scratch, timeoutMs: 120_000 });
    expect(checked.stdout + checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    // The check can fail: a wrong argument left without its @ts-expect-error is reported.
    await writeFile(path.join(scratch, 'typed.mts'), TYPED_MTS.replace('// @ts-expect-error the width is a number\n', ''));
    const refused = await run(process.execPath, [tsc, ...flags, ...types, 'typed.mts'], { cwd: scratch, timeoutMs: 120_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toMatch(/typed\.mts\(13,\d+\): error TS2322/);
  });

  it('(c) npx taskwire --help, and --version', async () => {
    const ran = await run('npx', ['--no-install', 'taskwire', '--help'], { cwd: scratch, timeoutMs: 60_000 });
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('Usage: taskwire <command>');
    const version = await run('npx', ['--no-install', 'taskwire', '--version'], { cwd: scratch, timeoutMs: 60_000 });
    expect(version).toMatchObject({ code: 0, stdout: `${(JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n` });
  });

  it('(c) npx taskwire dev starts with the embedded PostgreSQL and a TypeScript task module, and answers { __typename }', async () => {
    await writeFile(path.join(scratch, 'tasks.ts'), TASKS_TS);
    dev = start('npx', ['--no-install', 'taskwire', 'dev'], {
      cwd: scratch,
      env: userEnv({ PORT: '0', LOG_LEVEL: 'info', TASK_MODULES: './tasks.ts', DATA_DIR: path.join(scratch, '.data') }),
    });
    const listening = await dev.waitForLog((l) => typeof l.url === 'string' && l.msg.startsWith('GraphQL server listening'), 180_000);
    devUrl = listening.url as string;
    const ready = await dev.waitForLog((l) => l.msg === 'taskwire ready', 60_000);
    expect(ready.tasks).toEqual(['scratch.add']);
    const res = await fetch(devUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    // The dashboard's static files, read from dist/ by the built server.
    const base = devUrl.slice(0, -'/graphql'.length);
    for (const file of ['/dashboard', '/dashboard/app.js', '/dashboard/style.css', '/queue/task-filter-match.js']) {
      expect((await fetch(`${base}${file}`)).status, file).toBe(200);
    }
  });

  it.skipIf(SKIP_BROWSER)('(b) a page bundling taskwire/client for the browser enqueues a task and watches it to its result, in Chromium', async () => {
    expect(devUrl).not.toBe('');
    const page = path.join(scratch, 'page');
    await rm(page, { recursive: true, force: true });
    await copyFile(new URL('page.js', FIXTURES), path.join(scratch, 'page.js'));
    // For the browser: a Node built-in anywhere in the client's imports fails the build.
    await build({ entryPoints: [path.join(scratch, 'page.js')], bundle: true, format: 'esm', platform: 'browser', outfile: path.join(page, 'page.bundle.js'), absWorkingDir: scratch, logLevel: 'silent' });
    const files: Record<string, { body: Buffer; type: string }> = {
      'index.html': { body: await readFile(new URL('index.html', FIXTURES)), type: 'text/html; charset=utf-8' },
      'page.bundle.js': { body: await readFile(path.join(page, 'page.bundle.js')), type: 'text/javascript; charset=utf-8' },
    };
    const origin = new URL(devUrl).origin;
    const profile = await mkdtemp(path.join(tmpdir(), 'taskwire-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      // The page is served from the server's origin (as an app would serve its own page);
      // nothing leaves the machine.
      await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        const file = url.origin === origin && url.pathname.startsWith('/app/') ? files[url.pathname.slice('/app/'.length)] : undefined;
        if (file) return route.fulfill({ body: file.body, contentType: file.type });
        if (url.origin === origin) return route.continue();
        return route.abort('internetdisconnected');
      });
      const tab = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      tab.on('pageerror', (error) => problems.push(error.message));
      await tab.goto(`${origin}/app/index.html`);
      await tab.locator('#out[data-done]').waitFor({ timeout: 60_000 });
      const shown = (await tab.locator('#out').textContent()) ?? '';
      expect(problems).toEqual([]);
      expect(shown).not.toMatch(/^failed/);
      const { statuses, result } = JSON.parse(shown) as { statuses: string[]; result: number };
      expect(result).toBe(5);
      expect(statuses.at(-1)).toBe('SUCCEEDED');
    } finally {
      await context?.close();
      await rm(profile, { recursive: true, force: true });
    }
  });

  it('(c) taskwire dev stops on SIGINT (Ctrl-C) and npx exits with its code, 0', async () => {
    expect(dev).toBeDefined();
    // To the taskwire process (its log lines carry its pid), not to the whole group: npm itself
    // dies of a Ctrl-C without waiting for its child, so a shell shows 130 for any `npx …`. Sent
    // this way, npx waits, and its exit code is taskwire's.
    const { pid } = await dev!.waitForLog((l) => l.msg === 'taskwire ready', 1000);
    process.kill(pid as number, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit within 60 s\n${dev!.stderr().slice(-3000)}`)), 60_000);
    });
    const exit = await Promise.race([dev!.exited, late]).finally(() => clearTimeout(timer));
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
