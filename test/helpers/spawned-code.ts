import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The run's compiled sources (global-setup.ts), or undefined where no global setup made them. */
function compiledDir(): string | undefined {
  return inject('compiledDir');
}

/**
 * The `taskwire` command the tests spawn: bin/taskwire.js of the run's compiled sources (its
 * installed branch, on plain Node), or the checkout's own (sources through tsx) where the run
 * compiled none.
 */
export function taskwireBin(): string {
  const dir = compiledDir();
  return path.join(dir ?? ROOT, 'bin', 'taskwire.js');
}

/**
 * Node's arguments that run `script`, a TypeScript file under test/helpers/ or src/: its compiled copy
 * on plain Node, or the file itself through tsx where the run compiled none.
 */
export function helperScriptArgs(script: string): string[] {
  const dir = compiledDir();
  if (!dir) return ['--import', 'tsx', script];
  return [path.join(dir, path.relative(ROOT, script)).replace(/\.ts$/, '.js')];
}
