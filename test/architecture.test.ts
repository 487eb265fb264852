import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

const FORBIDDEN = /from ['"](graphql|graphql-yoga|graphql-ws|@pothos\/[^'"]+|\.\.\/(?:\.\.\/)*(graphql|server|cli)\/[^'"]*)['"]/;

describe('layering', () => {
  // The queue core must stay usable without GraphQL or HTTP (DESIGN.md): imports point down only.
  it.each(['src/queue', 'src/worker', 'src/db'])('%s imports nothing of GraphQL, the server or the CLI', (dir) => {
    const offenders = sourceFiles(dir).filter((file) => FORBIDDEN.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('only src/config.ts reads process.env', () => {
    const readers = sourceFiles('src').filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8')));
    expect(readers.map((f) => f.split(path.sep).join('/'))).toEqual(['src/config.ts']);
  });
});
