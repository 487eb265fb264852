#!/usr/bin/env node
// The `taskwire` command. Installed from the package, it runs the built code (dist/) on plain
// Node. In a checkout of the repository (src/ beside this file: the package ships no src/) it
// runs the sources through tsx instead, so a change is live without a build and the tests spawn
// the code they test, never a stale dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  // A task module that imports 'taskwire' (the README's tasks.ts, TASK_MODULES=./tasks.ts npm start)
  // gets these sources too, as tests do with --conditions=taskwire-source: the package's exports name
  // dist/ otherwise, which only a build makes. Registered after tsx, so it runs first and tsx resolves
  // with the condition added. (An ES module's import; a CommonJS task module's require is not hooked.)
  const { register: registerHooks } = await import('node:module');
  const addCondition = `export function resolve(specifier, context, next) {
    return next(specifier, { ...context, conditions: [...(context.conditions ?? []), 'taskwire-source'] });
  }`;
  registerHooks(`data:text/javascript,${encodeURIComponent(addCondition)}`);
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
