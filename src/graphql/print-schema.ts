/**
 * Prints the schema to schema/schema.graphql, the committed contract.
 * `--check`: exits 1 when the file differs from the code (CI and `npm run schema:check`).
 * `--file PATH`: another file than schema/schema.graphql (tests).
 */
import { realpathSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printSchema } from 'graphql';
import { schema } from './schema.js';

export const SCHEMA_FILE = fileURLToPath(new URL('../../schema/schema.graphql', import.meta.url));

/** The SDL as committed: graphql-js's printer, with a trailing newline. */
export function printedSchema(): string {
  return `${printSchema(schema)}\n`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean' }, file: { type: 'string' } } });
  const file = values.file ?? SCHEMA_FILE;
  const printed = printedSchema();
  if (values.check) {
    const current = await readFile(file, 'utf8').catch(() => '');
    if (current === printed) {
      process.stdout.write(`${file} is up to date\n`);
      return 0;
    }
    process.stderr.write(`${file} differs from the Pothos schema: run \`npm run schema:print\` and commit it\n`);
    return 1;
  }
  await writeFile(file, printed);
  process.stdout.write(`wrote ${file}\n`);
  return 0;
}

// Real paths: run through a symlink (a checkout whose node_modules is a link), the two spellings
// differed, and the script printed nothing and exited 0, so `--check` passed without checking.
if (process.argv[1] && realpathSync(fileURLToPath(import.meta.url)) === realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
