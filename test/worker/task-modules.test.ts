import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadTaskModules, taskRegistry } from '../../src/worker/registry.js';

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

  it('refuses a path that names no file with a ConfigError about TASK_MODULES, naming what it looked for', async () => {
    const error = await loadTaskModules(['./absent.mjs'], dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'TASK_MODULES' });
    expect((error as Error).message).toBe(`TASK_MODULES: ./absent.mjs not found (looked for ${path.join(dir, 'absent.mjs')}); a module path starts with ./ or / and includes its extension`);
  });

  it('refuses two definitions of one name, from two modules, as a ConfigError', async () => {
    await writeFile(path.join(dir, 'one.mjs'), `export const a = ${definition('same.name')};\n`);
    await writeFile(path.join(dir, 'two.mjs'), `export const b = ${definition('same.name')};\n`);
    const error = await taskRegistry(['./one.mjs', './two.mjs'], dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('Two task definitions are named "same.name"');
  });

  it('wraps what a module throws while it loads, keeping it as the cause', async () => {
    await writeFile(path.join(dir, 'throws.mjs'), `const settings = undefined;\nexport const name = settings.name;\n`);
    const error = await loadTaskModules(['./throws.mjs'], dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field: 'TASK_MODULES' });
    expect((error as Error).message).toMatch(/^TASK_MODULES: loading \.\/throws\.mjs failed: Cannot read properties of undefined \(reading 'name'\)/);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });
});
