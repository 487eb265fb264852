import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import type { TaskCatalog } from '../queue/catalog.js';
import { isTaskDefinition, type TaskDefinition } from './define-task.js';
import { exampleTasks } from './examples.js';

export interface Registry extends TaskCatalog {
  get(name: string): TaskDefinition | undefined;
}

/** @throws ConfigError on two definitions with one name. */
export function createRegistry(definitions: Iterable<TaskDefinition>): Registry {
  const byName = new Map<string, TaskDefinition>();
  for (const def of definitions) {
    if (byName.has(def.name)) throw new ConfigError(`Two task definitions are named "${def.name}"`);
    byName.set(def.name, def);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()].sort(),
  };
}

/**
 * The registry a process runs: the definitions the modules of TASK_MODULES (`taskModules`, paths
 * relative to `cwd`) export, or the built-in examples (math.copysign, demo.*) when it names none.
 * @throws ConfigError as loadTaskModules does.
 */
export async function taskRegistry(taskModules: readonly string[], cwd = process.cwd()): Promise<Registry> {
  return createRegistry(taskModules.length > 0 ? await loadTaskModules(taskModules, cwd) : exampleTasks);
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
      throw new ConfigError(`TASK_MODULES: ${spec} is TypeScript: loading it needs tsx (npm install tsx), or compile it to JavaScript`, {
        field: 'TASK_MODULES',
        cause: error,
      });
    },
  );
  return typeScriptLoader;
}

/**
 * Loads task definitions from modules (like Celery's `include`): every export that is a
 * TaskDefinition, or an array of them, is registered, from ES modules and CommonJS alike. Paths are
 * relative to `cwd`. A TypeScript module (`.ts`, `.mts`, `.cts`, `.tsx`) is loaded through tsx.
 * @throws ConfigError (field TASK_MODULES) when a module is not found, fails to load (its error is
 * the cause), or exports no definition.
 */
export async function loadTaskModules(modules: readonly string[], cwd = process.cwd()): Promise<TaskDefinition[]> {
  const found: TaskDefinition[] = [];
  for (const spec of modules) {
    const file = isPath(spec) ? path.resolve(cwd, spec) : undefined;
    if (TYPESCRIPT_MODULE.test(spec)) await loadTypeScript(spec);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(file ? pathToFileURL(file).href : spec)) as Record<string, unknown>;
    } catch (error) {
      throw (await notFound(spec, file, cwd, error)) ?? loadFailed(spec, file, error);
    }
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
    if (found.length === before) throw new ConfigError(`TASK_MODULES: ${spec} exports no task definition (export the result of defineTask)`, { field: 'TASK_MODULES' });
  }
  // A module may export the same definition twice (named and default).
  return [...new Set(found)];
}

/** `./tasks.ts`, `../x.js`, `/abs/x.js`: a file; anything else (`tasks.ts`, `@acme/tasks`) is a package name to Node. */
const isPath = (spec: string): boolean => spec.startsWith('.') || path.isAbsolute(spec);

/** Extensions tried when suggesting what a path without one meant, in the order a user most likely wants. */
const MODULE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

const HOW_TO_NAME = 'a module path starts with ./ or / and includes its extension';

async function kindOf(file: string): Promise<'file' | 'directory' | undefined> {
  const stats = await stat(file).catch(() => undefined);
  if (!stats) return undefined;
  return stats.isDirectory() ? 'directory' : 'file';
}

/** `base` + the first extension that names an existing file, e.g. `./tasks` → `./tasks.ts`. */
async function withExtension(base: string, cwd: string): Promise<string | undefined> {
  for (const ext of MODULE_EXTENSIONS) if ((await kindOf(path.resolve(cwd, base + ext))) === 'file') return base + ext;
  return undefined;
}

/**
 * The ConfigError for a module that is not there (a typo, a path without `./` or without its
 * extension, a directory), with what was looked for and what was likely meant; undefined when the
 * module exists, so that what failed is inside it (loadFailed). Decided by looking at the file
 * rather than at the error: Node, tsx and vitest word a missing module each their own way, and a
 * missing import *inside* the module raises the same code as the module itself.
 */
async function notFound(spec: string, file: string | undefined, cwd: string, error: unknown): Promise<ConfigError | undefined> {
  const options = { field: 'TASK_MODULES', cause: error };
  if (file) {
    const kind = await kindOf(file);
    if (kind === 'file') return undefined;
    if (kind === 'directory') {
      const index = await withExtension(`${spec.replace(/[\\/]+$/, '')}/index`, cwd);
      const hint = index ? `: did you mean ${index}?` : '';
      return new ConfigError(`TASK_MODULES: ${spec} is a directory (${file}); ${HOW_TO_NAME}${hint}`, options);
    }
    const meant = path.extname(file) === '' ? await withExtension(spec, cwd) : undefined;
    return new ConfigError(`TASK_MODULES: ${spec} not found (looked for ${file}); ${HOW_TO_NAME}${meant ? `: did you mean ${meant}?` : ''}`, options);
  }
  // A bare name is a package to Node: only "no such package" is about the name itself; an error
  // from an installed package (one of its own imports missing) is the package's.
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  if (code !== 'ERR_MODULE_NOT_FOUND' || !message.includes(`'${packageName(spec)}'`)) return undefined;
  const local = path.resolve(cwd, spec);
  const localKind = await kindOf(local);
  const meant = localKind === 'file' ? `./${spec}` : localKind === undefined ? await withExtension(`./${spec}`, cwd) : undefined;
  const beside = meant ? `: did you mean ${meant} (${path.resolve(cwd, meant)})?` : ` (there is no file ${local} either)`;
  return new ConfigError(
    `TASK_MODULES: ${spec} not found: without ./ or / it names a package, and no package "${packageName(spec)}" is installed; ${HOW_TO_NAME}${beside}`,
    options,
  );
}

/** `@scope/name` or `name`: the package a bare specifier names (Node reports that part missing). */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return (spec.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/**
 * A module that exists but threw while loading (a top-level statement failed, a syntax error, an
 * import of its own that is missing): named with its error's message, on one line, and where it
 * happened when the stack says so. The error is kept as the cause (its stack: LOG_LEVEL=debug).
 */
function loadFailed(spec: string, file: string | undefined, error: unknown): ConfigError {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').trim();
  const where = error instanceof Error ? firstFrame(error.stack, file) : undefined;
  return new ConfigError(`TASK_MODULES: loading ${spec} failed: ${message}${where ? ` (at ${where})` : ''}`, { field: 'TASK_MODULES', cause: error });
}

/** `  at fn (/x/y.ts:3:5)`, `  at /x/y.ts:3:5`, `  at file:///x/y.mjs:3:5`: the location of one frame. */
const FRAME = /^\s*at (?:.*? \()?((?:file:\/\/)?[^()\s][^()]*?):(\d+):(\d+)\)?$/;
const THIS_FILE = fileURLToPath(import.meta.url);

/**
 * `file:line:column` of the first frame in the module itself, else of the first frame in code of
 * the user's (not Node's, not a dependency's, not this loader's): the line a top-level statement
 * failed on, or the module it imported that did.
 */
function firstFrame(stack: string | undefined, file: string | undefined): string | undefined {
  const frames: { file: string; at: string }[] = [];
  for (const line of (stack ?? '').split('\n')) {
    const match = FRAME.exec(line);
    if (!match) continue;
    const [, location = '', row, column] = match;
    const where = location.startsWith('file://') ? fileURLToPath(location) : location;
    frames.push({ file: where, at: `${where}:${row}:${column}` });
  }
  const own = frames.find((f) => f.file === file);
  if (own) return own.at;
  return frames.find((f) => path.isAbsolute(f.file) && f.file !== THIS_FILE && !f.file.includes(`${path.sep}node_modules${path.sep}`))?.at;
}
