import { cp, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Inside the checkout, so that the compiled files resolve their packages from its node_modules. */
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'taskwire-test');

/** A run's compiled copy of the sources (see compileSources). */
export interface CompiledSources {
  /** Its root: bin/taskwire.js, src/ (also as dist/), test/helpers/, drizzle/, schema/. */
  dir: string;
  remove(): Promise<void>;
}

const isTypeScript = (file: string): boolean => file.endsWith('.ts') && !file.endsWith('.d.ts');

/** Copies of runs that ended without their teardown (killed): their process is gone. */
async function removeAbandoned(): Promise<void> {
  const runs = await readdir(CACHE).catch(() => [] as string[]);
  await Promise.all(
    runs.map(async (name) => {
      const pid = Number(/^run-(\d+)-/.exec(name)?.[1]);
      if (!pid || isAlive(pid)) return;
      await rm(path.join(CACHE, name), { recursive: true, force: true });
    }),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/**
 * src/ and test/helpers/ compiled to JavaScript once per test run, for the processes tests
 * spawn (the CLI, worker and scheduler children). Under tsx every spawn type-stripped and
 * loaded ~200 modules through its loader hooks: about 2 s of CPU per process, hundreds of
 * processes a run. The layout is the built package's: a copy of bin/taskwire.js whose
 * `../src/cli/main.ts` is absent, so it takes its installed branch (`../dist/cli/main.js`,
 * here a link to the compiled src/); the files src/ reads beside its code (the dashboard,
 * the filter rule) copied, drizzle/ and schema/ linked. Compiled from the working tree at the
 * start of the run, so a spawned process runs the code under test, never a stale dist/.
 * One directory per run (several runs may share a checkout), removed at its end.
 */
export async function compileSources(): Promise<CompiledSources> {
  await mkdir(CACHE, { recursive: true });
  await removeAbandoned();
  const dir = path.join(CACHE, `run-${process.pid}-${Date.now().toString(36)}`);
  const [srcFiles, helperFiles] = await Promise.all([filesUnder(path.join(ROOT, 'src')), filesUnder(path.join(ROOT, 'test', 'helpers'))]);
  await build({
    entryPoints: [...srcFiles, ...helperFiles].filter(isTypeScript),
    outdir: dir,
    outbase: ROOT,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The same transform tsx applies per file (tsconfig.json is read for each), minus bundling.
    bundle: false,
    logLevel: 'error',
  });
  const assets = srcFiles.filter((f) => !f.endsWith('.ts'));
  await Promise.all(assets.map((f) => cp(f, path.join(dir, path.relative(ROOT, f)))));
  await mkdir(path.join(dir, 'bin'));
  await Promise.all([
    cp(path.join(ROOT, 'bin', 'taskwire.js'), path.join(dir, 'bin', 'taskwire.js')),
    symlink('src', path.join(dir, 'dist')),
    symlink(path.join(ROOT, 'drizzle'), path.join(dir, 'drizzle')),
    symlink(path.join(ROOT, 'schema'), path.join(dir, 'schema')),
    // Node looks no further up than node_modules/ for a package.json: this one makes .js ESM.
    writeFile(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n'),
  ]);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
