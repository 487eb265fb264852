import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/server/start-rule.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { taskwireBin } from '../helpers/spawned-code.js';
import { spawnTaskwire, type TaskwireProcess } from '../helpers/taskwire-process.js';

// DESIGN Part 2 §B: a server bound to a non-loopback HOST with AUTH_MODE=off refuses to start,
// saying why and how (src/server/start-rule.ts, checked in src/cli/process.ts and App.start).
let database: TestDatabase;
const processes: TaskwireProcess[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await database?.drop();
});

/** Runs `taskwire <args>` to its end: exit code and stderr. */
function run(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [taskwireBin(), ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`taskwire ${args.join(' ')} still runs after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST', 'app.localhost', '::ffff:127.0.0.1', 'localhost:4000', '[::1]:4000', '127.0.0.1:4000', 'app.localhost:80'])(
    '%s is loopback',
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );
  it.each(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '128.0.0.1', 'example.com', 'localhost.example.com', '::2', '', '10.0.0.1:4000', 'example.com:4000', '[::2]:4000', '::ffff:127.0.0.1:4000'])('%s is not', (host) =>
    expect(isLoopbackHost(host)).toBe(false),
  );
});

describe('the start-up rule', () => {
  it.each(['serve', 'dev'])('taskwire %s with AUTH_MODE=off on HOST=0.0.0.0 refuses at once, in one line saying why and how', async (command) => {
    const { code, stderr } = await run([command], { DATABASE_URL: database.url, HOST: '0.0.0.0', PORT: '0', AUTH_MODE: 'off' });
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^taskwire: refusing to serve on HOST=0\.0\.0\.0 with AUTH_MODE=off/);
    expect(lines[0]).toContain('AUTH_MODE=on');
    expect(lines[0]).toContain('HOST=127.0.0.1');
    // Refused before the database is touched: no migration ran, nothing was logged as started.
    expect(stderr).not.toContain('"msg"');
  });

  it('the same server on a loopback HOST, or with AUTH_MODE=on, starts', async () => {
    for (const env of [{ HOST: '127.0.0.1' }, { HOST: '0.0.0.0', AUTH_MODE: 'on' }] as Record<string, string>[]) {
      const p = spawnTaskwire(['serve'], { DATABASE_URL: database.url, PORT: '0', DB_POOL_SIZE: '2', ...env });
      processes.push(p);
      const line = await p.waitForLog((l) => typeof l.url === 'string' && l.msg.startsWith('GraphQL server listening'));
      expect(line.url).toContain(env.HOST as string);
      expect(await p.stop()).toBe(0);
    }
  });

  it('taskwire worker (no GraphQL server) is not concerned: it runs on HOST=0.0.0.0 with AUTH_MODE=off', async () => {
    const p = spawnTaskwire(['worker'], { DATABASE_URL: database.url, HOST: '0.0.0.0', AUTH_MODE: 'off', DB_POOL_SIZE: '2', WORKER_POLL_INTERVAL_MS: '100' });
    processes.push(p);
    await p.waitForLog((l) => l.msg === 'taskwire ready');
    expect(await p.stop()).toBe(0);
  });
});
