import path from 'node:path';
import { pathToFileURL } from 'node:url';
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

/**
 * Loads task definitions from modules (like Celery's `include`): every export that is a
 * TaskDefinition, or an array of them, is registered. Paths are relative to `cwd`.
 */
export async function loadTaskModules(modules: readonly string[], cwd = process.cwd()): Promise<TaskDefinition[]> {
  const found: TaskDefinition[] = [];
  for (const spec of modules) {
    const url = spec.startsWith('.') || path.isAbsolute(spec) ? pathToFileURL(path.resolve(cwd, spec)).href : spec;
    const mod = (await import(url)) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      if (isTaskDefinition(value)) found.push(value);
      else if (Array.isArray(value)) found.push(...value.filter(isTaskDefinition));
    }
  }
  // A module may export the same definition twice (named and default).
  return [...new Set(found)];
}
