import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

// The typed-client example of docs/workflows.md, run as a user's project would run it against a
// server with the built-in tasks: an example naming tasks that exist nowhere was refused (UNKNOWN_TASK).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startTestServer({ runner: {} });
  dir = await mkdtemp(path.join(tmpdir(), 'taskwire-workflow-example-'));
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(ROOT, path.join(dir, 'node_modules', 'taskwire'), 'dir');
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // The `taskwire-source` condition (package.json exports) picks src/, not a dist/ that may be stale or absent.
  const child = spawn(process.execPath, ['--conditions=taskwire-source', '--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('docs/workflows.md', () => {
  it('the typed-client example runs as written against a server with the built-in tasks, to SUCCEEDED', async () => {
    const doc = await readFile(path.join(ROOT, 'docs/workflows.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Typed client\n'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toContain("url: 'http://127.0.0.1:4000/graphql'");
    await writeFile(path.join(dir, 'example.ts'), code!.replace('http://127.0.0.1:4000/graphql', server.url));

    const result = await run(path.join(dir, 'example.ts'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const last = result.stdout.trim().split('\n').at(-1);
    expect(last).toMatch(/^\d+ SUCCEEDED header\.0:SUCCEEDED header\.1:SUCCEEDED callback:SUCCEEDED$/);
  });
});
