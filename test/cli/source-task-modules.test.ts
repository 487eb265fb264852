import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

// `TASK_MODULES=./tasks.ts npm start` in a checkout of the repository, as the README's first task
// module: it imports 'taskwire', whose package exports name dist/, which only a build makes (a fresh
// clone has none). bin/taskwire.js, running the sources, resolves it to them instead.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

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
      // The checkout's own bin (the sources through tsx), not the run's compiled copy the other CLI tests spawn.
      const result = await runCli(['doctor', '--json'], { TASK_MODULES: path.join(dir, 'tasks.ts'), DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none' }, 60_000, { cwd: ROOT, checkout: true });
      const tasks = (JSON.parse(result.stdout) as { checks: { check: string; status: string; message: string }[] }).checks.find((c) => c.check === 'tasks');
      expect(tasks, result.stderr).toEqual({ check: 'tasks', status: 'ok', message: 'TASK_MODULES registers 1 task(s): probe.source' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
