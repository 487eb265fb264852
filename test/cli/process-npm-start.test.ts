import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait.js';

// `npm start` runs its script through `sh -c`; a shell that only forks the command dies of SIGTERM
// without passing it on, and left the server (and the embedded PostgreSQL) running, reparented to
// init: the next `npm start` found its port taken. The script execs, so the signal reaches the server.
// It execs node itself, not the tsx CLI: tsx runs the code in a child and, when that child has not
// told it within 30 ms that it got the signal, sends it again and then SIGKILL — on a loaded machine
// (a CI runner) Ctrl-C killed the server mid-shutdown. The `slow` cases model that load: the server
// is stopped (SIGSTOP) while the signal is sent and resumes 300 ms later.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let database: TestDatabase;
let npm: ChildProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(() => {
  // What the test started, as a group (`detached`), should it have failed with the server still up.
  if (npm?.pid !== undefined) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  npm = undefined;
});
afterAll(async () => {
  await database?.drop();
});

describe('npm start', () => {
  it.each([
    ['SIGTERM to npm alone, as a service manager or kill sends it', 'npm'],
    ['SIGINT to the whole group, as Ctrl-C sends it', 'group'],
    ['SIGTERM to npm alone while the server is too busy to answer at once', 'npm-slow'],
    ['SIGINT to the whole group while the server is too busy to answer at once', 'group-slow'],
  ] as const)('stops the server gracefully on %s', async (_what, target) => {
    let stderr = '';
    npm = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DATABASE_URL: database.url, DATABASE_LISTEN_URL: '', HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '', TASK_MODULES: '', LOG_LEVEL: 'info' },
    });
    npm.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => npm!.once('exit', () => resolve()));
    const listening = await waitFor(() => /"pid":(\d+),.*GraphQL server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr) ?? undefined, {
      timeoutMs: 30_000,
      message: `the server to listen: ${stderr}`,
    });
    const pid = Number(listening[1]);
    const healthz = `${listening[2]}/healthz`;
    expect((await fetch(healthz)).status).toBe(200);

    const slow = target.endsWith('-slow');
    if (slow) process.kill(pid, 'SIGSTOP');
    if (target.startsWith('npm')) npm.kill('SIGTERM');
    else process.kill(-(npm.pid as number), 'SIGINT');
    if (slow) {
      // The load being modelled, not a wait for state: the server cannot run for 300 ms.
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(pid, 'SIGCONT');
    }
    await exited;
    // Its last log line, then its end: a graceful stop, not one cut short.
    await waitFor(() => /"msg":"stopped"/.test(stderr), { timeoutMs: 15_000, message: `the server (pid ${pid}) to stop: ${stderr}` });
    await waitFor(() => !isAlive(pid), { timeoutMs: 15_000, message: `the server (pid ${pid}) to end` });
    await expect(fetch(healthz)).rejects.toThrow();
  });
});
