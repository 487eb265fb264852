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
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
