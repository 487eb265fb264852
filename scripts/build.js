// `npm run build` (and `npm pack`, through prepack): src/ compiled to dist/ by tsc
// (tsconfig.build.json), then the files src/ holds that are not TypeScript copied beside the
// code that reads them, at the same relative paths: the dashboard's page, scripts and styles
// (src/dashboard/serve.ts reads them next to itself), the task-filter rule the dashboard shares
// with the core (plain JavaScript, with its hand-written .d.ts, which tsc does not copy).
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

// A clean tree: a file removed from src/ must not live on in the package.
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const isTypeScriptSource = (file) => /\.[cm]?tsx?$/.test(file) && !/\.d\.[cm]?ts$/.test(file);
const copied = readdirSync(src, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && !isTypeScriptSource(entry.name) && !entry.name.endsWith('.graphql'))
  .map((entry) => path.relative(src, path.join(entry.parentPath ?? entry.path, entry.name)));
for (const file of copied) cpSync(path.join(src, file), path.join(dist, file));
console.error(`dist/: compiled src/, copied ${copied.length} files: ${copied.join(', ')}`);
