import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import type { TaskCatalog } from '../queue/catalog.js';
import { isTaskDefinition, type TaskDefinition } from './define-task.js';

export interface Registry extends TaskCatalog {
  get(name: string): TaskDefinition | undefined;
}

/** @throws Error on two definitions with one name. */
export function createRegistry(definitions: Iterable<TaskDefinition>): Registry {
  const byName = new Map<string, TaskDefinition>();
  for (const def of definitions) {
    if (byName.has(def.name)) throw new Error(`Two task definitions are named "${def.name}"`);
    byName.set(def.name, def);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()].sort(),
  };
}

const TYPESCRIPT_MODULE = /\.[cm]?tsx?$/;
let typeScriptLoader: Promise<void> | undefined;

/**
 * Lets `import()` load TypeScript: tsx's hooks, registered once and only when a `.ts` task module
 * is asked for, so the built package runs on plain Node otherwise. Not when this file is itself
 * TypeScript: then a loader is in place already (tsx running the sources, vitest).
 */
function loadTypeScript(spec: string): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  typeScriptLoader ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(
    ([esm, cjs]) => {
      // Both, as `node --import tsx` does: a .ts file outside a "type": "module" package is CommonJS.
      esm.register();
      cjs.register();
    },
    (error: unknown) => {
      typeScriptLoader = undefined;
      throw new Error(`${spec} is TypeScript: loading it needs tsx (npm install tsx), or compile it to JavaScript`, { cause: error });
    },
  );
  return typeScriptLoader;
}

/**
 * Loads task definitions from modules (like Celery's `include`): every export that is a
 * TaskDefinition, or an array of them, is registered, from ES modules and CommonJS alike. Paths are
 * relative to `cwd`. A TypeScript module (`.ts`, `.mts`, `.cts`, `.tsx`) is loaded through tsx.
 * @throws ConfigError when a module exports no definition.
 */
export async function loadTaskModules(modules: readonly string[], cwd = process.cwd()): Promise<TaskDefinition[]> {
  const found: TaskDefinition[] = [];
  for (const spec of modules) {
    const url = spec.startsWith('.') || path.isAbsolute(spec) ? pathToFileURL(path.resolve(cwd, spec)).href : spec;
    if (TYPESCRIPT_MODULE.test(spec)) await loadTypeScript(spec);
    const mod = (await import(url)) as Record<string, unknown>;
    // A CommonJS module (a .ts or .js file in a package without "type": "module", as `npm init`
    // makes it) arrives as `default`: its module.exports, whose properties are the exports.
    const exported = [...Object.values(mod), ...(typeof mod.default === 'object' && mod.default !== null ? Object.values(mod.default) : [])];
    const before = found.length;
    for (const value of exported) {
      if (isTaskDefinition(value)) found.push(value);
      else if (Array.isArray(value)) found.push(...value.filter(isTaskDefinition));
    }
    // Loading a module that defines nothing is a mistake (a wrong path, a forgotten export): say so
    // rather than start a worker that runs none of the tasks it was meant to.
    if (found.length === before) throw new ConfigError(`TASK_MODULES: ${spec} exports no task definition (export the result of defineTask)`);
  }
  // A module may export the same definition twice (named and default).
  return [...new Set(found)];
}
