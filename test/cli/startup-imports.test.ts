import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * What a `taskwire` process loads before it does anything: the modules main.ts imports, and those a
 * command's dynamic import adds. Read from esbuild's split build of src/cli/main.ts (each dynamic
 * import its own chunk), so the check is of the import graph, not of a timing. It sees the packages
 * our modules import by name, not what those packages import in turn.
 */
async function chunks(): Promise<Metafile['outputs']> {
  const { metafile } = await build({
    entryPoints: ['src/cli/main.ts'],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    outdir: 'chunks',
    write: false,
    metafile: true,
    absWorkingDir: fileURLToPath(new URL('../..', import.meta.url)),
    // Packages stay imports (each named in the chunk that imports it): bundling them took seconds.
    packages: 'external',
    logLevel: 'error',
  });
  return metafile.outputs;
}

/** Our source files and the packages an output chunk loads with itself, through static imports only. */
function staticInputs(outputs: Metafile['outputs'], start: string): string[] {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (chunk: string): void => {
    if (seen.has(chunk)) return;
    seen.add(chunk);
    for (const i of outputs[chunk]?.imports ?? []) {
      if (i.kind !== 'import-statement') continue;
      if (i.external) packages.add(i.path);
      else visit(i.path);
    }
  };
  visit(start);
  return [...[...seen].flatMap((chunk) => Object.keys(outputs[chunk]?.inputs ?? {})), ...packages];
}

const chunkOf = (outputs: Metafile['outputs'], entry: string): string => {
  const found = Object.entries(outputs).find(([, o]) => o.entryPoint === entry);
  if (!found) throw new Error(`no chunk for ${entry}`);
  return found[0];
};

const zod = (inputs: string[]): string[] => inputs.filter((name) => name === 'zod' || name.startsWith('zod/'));

describe('what the CLI loads at its start', () => {
  // One build for the three checks: it is the whole of each.
  let outputs: Metafile['outputs'];
  beforeAll(async () => {
    outputs = await chunks();
  });

  // zod is ~830 KB of JavaScript, more than a client command's own code: loading it cost every
  // `taskwire status` (and every CLI process the tests spawn) ~0.1 s of CPU.
  it('neither --help nor a client command loads zod; a process command does, for its configuration', async () => {
    const main = staticInputs(outputs, chunkOf(outputs, 'src/cli/main.ts'));
    const client = staticInputs(outputs, chunkOf(outputs, 'src/cli/client-commands.ts'));
    expect(zod(main)).toEqual([]);
    expect(zod(client)).toEqual([]);
    expect(main).toContain('src/cli/commands.ts');
    expect(client).toContain('src/cli/args.ts');
    // The check sees zod where it is loaded.
    expect(zod(staticInputs(outputs, chunkOf(outputs, 'src/config.ts'))).length).toBeGreaterThan(0);
  });

  // createDb made a Drizzle database nothing used: drizzle-orm/postgres-js and the pg-core schema,
  // ~0.1 s of every worker's and server's start. Only the migrator (its journal reader) is loaded.
  it('a worker or server process loads no Drizzle but its migrator', async () => {
    const drizzle = (inputs: string[]): string[] => inputs.filter((name) => name === 'src/db/schema.ts' || /^drizzle-orm(\/|$)/.test(name));
    const processInputs = staticInputs(outputs, chunkOf(outputs, 'src/cli/process.ts'));
    expect(drizzle(processInputs)).toEqual(['drizzle-orm/migrator']);
    expect(drizzle(staticInputs(outputs, chunkOf(outputs, 'src/server/start.ts')))).toEqual([]);
    expect(processInputs).toContain('src/db/client.ts');
  });

  // It imported two helpers from doctor.ts, and with them the doctor's checks, jose and the task registry.
  it('taskwire keys loads none of the doctor', async () => {
    const keys = staticInputs(outputs, chunkOf(outputs, 'src/cli/keys-commands.ts'));
    expect(keys.filter((name) => name === 'src/cli/doctor.ts' || name === 'jose')).toEqual([]);
    expect(keys).toContain('src/db/embedded.ts');
  });
});
