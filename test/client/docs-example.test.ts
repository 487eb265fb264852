import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let server: TestServer;
let authServer: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startTestServer({ runner: {} });
  authServer = await startTestServer({ runner: {}, env: { ...AUTH_ENV } });
  // A project of a user of the package: `taskwire` in its node_modules, so the example imports
  // 'taskwire/client' through package.json's exports, as a user's code would.
  dir = await mkdtemp(path.join(tmpdir(), 'taskwire-client-example-'));
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(ROOT, path.join(dir, 'node_modules', 'taskwire'), 'dir');
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
});

afterAll(async () => {
  await server?.close();
  await authServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // `--import tsx` resolves from the working directory: this repository's tsx. The
  // `taskwire-source` condition (package.json exports) picks src/, not a dist/ that may be stale or absent.
  const child = spawn(process.execPath, ['--conditions=taskwire-source', '--import', 'tsx', file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The ```ts and ```text blocks of the doc's section under `heading`, the first of each there. */
async function example(heading: string): Promise<{ code: string; shown: string }> {
  const doc = await readFile(path.join(ROOT, 'docs/client.md'), 'utf8');
  const start = doc.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(-1);
  const section = doc.slice(start);
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  const shown = /```text\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  expect(shown).toBeDefined();
  return { code: code!, shown: shown! };
}

describe('docs/client.md', () => {
  it('the first example runs against a real server and prints what the page says', async () => {
    const doc = await readFile(path.join(ROOT, 'docs/client.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    const shown = /```text\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(code).toBeDefined();
    expect(shown).toBeDefined();
    await writeFile(path.join(dir, 'example.ts'), code!);

    const result = await run(path.join(dir, 'example.ts'), { TASKWIRE_URL: server.url });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // Every state of the watch is delivered (the event log): the output is the page's, line for line.
    expect(result.stdout.trim().split('\n')).toEqual(shown!.trim().split('\n'));
  });

  it('the read-token example runs against a server with AUTH_MODE=on and prints what the page says', async () => {
    const { code, shown } = await example('### Read tokens');
    await writeFile(path.join(dir, 'read-tokens.ts'), code);
    const { key } = await createTestKey(authServer.sql, 'acme', ['tasks:read', 'tasks:enqueue']);

    const result = await run(path.join(dir, 'read-tokens.ts'), { TASKWIRE_URL: authServer.url, TASKWIRE_API_KEY: key });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(shown.trim().split('\n'));
  });
});
