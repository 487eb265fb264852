import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadTaskModules } from '../../src/worker/registry.js';

// TASK_MODULES as users write them: ES modules, and CommonJS (a package.json without
// "type": "module", which `npm init -y` makes), whose exports reach import() as `default` only.
const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'taskwire-task-modules-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What defineTask returns, as a module that cannot import this checkout's sources builds it. */
const definition = (name: string): string => `({ [Symbol.for('taskwire.definition')]: true, name: ${JSON.stringify(name)}, run: async () => null })`;

describe('loadTaskModules', () => {
  it('registers the definitions a CommonJS module exports, named or in a list (in plain Node)', async () => {
    // Assigned through a function, so that Node's scan of the source finds no named export (as with
    // a TypeScript module that tsx compiled to CommonJS): only `default` carries them. In a child
    // Node: vitest's own module loading hands a CommonJS module's properties over as named exports.
    await writeFile(path.join(dir, 'tasks.cjs'), `const build = () => ({ add: ${definition('cjs.add')}, more: [${definition('cjs.more')}] });\nmodule.exports = build();\n`);
    const registry = pathToFileURL(path.resolve('src/worker/registry.ts')).href;
    const script = `const { loadTaskModules } = await import(${JSON.stringify(registry)}); console.log(JSON.stringify((await loadTaskModules(['./tasks.cjs'], ${JSON.stringify(dir)})).map((d) => d.name).sort()));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual(['cjs.add', 'cjs.more']);
  });

  it('registers an ES module\'s named and default exports once each', async () => {
    await writeFile(path.join(dir, 'tasks.mjs'), `export const add = ${definition('esm.add')};\nexport default add;\nexport const list = [${definition('esm.list')}];\n`);
    const found = await loadTaskModules([path.join(dir, 'tasks.mjs')]);
    expect(found.map((d) => d.name).sort()).toEqual(['esm.add', 'esm.list']);
  });

  it('refuses a module that defines no task, naming it', async () => {
    await writeFile(path.join(dir, 'empty.cjs'), 'module.exports = { helper: () => 1 };\n');
    const error = await loadTaskModules(['./empty.cjs'], dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as Error).message).toBe('TASK_MODULES: ./empty.cjs exports no task definition (export the result of defineTask)');
  });
});
