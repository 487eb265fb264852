import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `TASK_MODULES=./tasks.ts npm start` in a checkout of the repository, as the README's first task
// module: it imports 'taskwire', whose package exports name dist/, which only a build makes (a fresh
// clone has none). bin/taskwire.js, running the sources, resolves it to them instead.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // The checkout's own bin (the sources through tsx), not the run's compiled copy the other CLI tests spawn.
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'taskwire.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe("a task module in the checkout importing 'taskwire'", () => {
  it('gets the sources the command runs, built or not (the name it registers says which it got)', async () => {
    // Inside the checkout: 'taskwire' resolves there by the package's own name (self-reference).
    const dir = await mkdtemp(path.join(ROOT, '.task-modules-'));
    try {
      await writeFile(
        path.join(dir, 'tasks.ts'),
        "import { defineTask } from 'taskwire';\n" +
          "export const probe = defineTask({ name: import.meta.resolve('taskwire').endsWith('/src/index.ts') ? 'probe.source' : 'probe.dist', run: async () => 1 });\n",
      );
      // doctor checks the task modules without a database (the one it is given is closed).
      const result = await run(['doctor', '--json'], { TASK_MODULES: path.join(dir, 'tasks.ts'), DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none' });
      const tasks = (JSON.parse(result.stdout) as { checks: { check: string; status: string; message: string }[] }).checks.find((c) => c.check === 'tasks');
      expect(tasks, result.stderr).toEqual({ check: 'tasks', status: 'ok', message: 'TASK_MODULES registers 1 task(s): probe.source' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
