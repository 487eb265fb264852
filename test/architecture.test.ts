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

  // Logs go through the logger (levels, JSON, redaction) and the CLI writes through its io: a
  // console call is a debugging line left behind (one reached a commit: a line per resuming feed).
  it('no source file writes to the console', () => {
    const writers = sourceFiles('src').filter((file) => /\bconsole\.(log|error|warn|info|debug|trace)\(/.test(readFileSync(file, 'utf8')));
    expect(writers).toEqual([]);
  });

  // postgres.js's own begin() takes the process down when the database closes the transaction's
  // connection (src/db/transaction.ts), and a reserved connection can hang for ever after it.
  it('transactions go through src/db/transaction.ts, and no connection is reserved', () => {
    const users = sourceFiles('src').filter((file) => /\.(begin|reserve)\(/.test(readFileSync(file, 'utf8')));
    expect(users.map((f) => f.split(path.sep).join('/'))).toEqual(['src/db/transaction.ts']);
  });

  it('only src/config.ts and src/client-config.ts read process.env', () => {
    const readers = sourceFiles('src').filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8')));
    expect(readers.map((f) => f.split(path.sep).join('/')).sort()).toEqual(['src/client-config.ts', 'src/config.ts']);
  });

  // ARCHITECTURE.md's table of parts: what each may import of ours. Keep the two in step.
  const SHARED = ['states.ts', 'error-codes.ts', 'exponential-delay.ts'];
  const ALLOWED: Record<string, string[]> = {
    'states.ts': [],
    'error-codes.ts': [],
    'exponential-delay.ts': [],
    'logger.ts': [],
    'service.ts': [],
    'errors.ts': ['error-codes.ts'],
    'masking.ts': [],
    'postgres-url.ts': [],
    'config.ts': ['errors.ts', 'masking.ts', 'postgres-url.ts'],
    'client-config.ts': ['errors.ts', 'masking.ts'],
    db: [...SHARED, 'errors.ts', 'config.ts', 'logger.ts', 'postgres-url.ts'],
    queue: ['db', ...SHARED, 'errors.ts', 'logger.ts', 'service.ts'],
    worker: ['queue', 'db', 'errors.ts', 'logger.ts', 'service.ts', ...SHARED],
    'deps.ts': ['config.ts', 'db', 'queue', 'worker', 'logger.ts', 'service.ts'],
    metrics: ['queue', 'worker', 'logger.ts'],
    // Credentials, principals and scopes: below the GraphQL layer and the server, above the core.
    auth: ['db', 'queue', 'config.ts', 'masking.ts', 'errors.ts', 'logger.ts', ...SHARED],
    graphql: ['queue', 'auth', 'errors.ts', 'logger.ts', ...SHARED],
    server: ['graphql', 'auth', 'queue', 'metrics', 'dashboard', 'db', 'deps.ts', 'worker', 'errors.ts', 'logger.ts', 'service.ts', ...SHARED],
    dashboard: ['server', 'queue'],
    client: ['error-codes.ts', 'exponential-delay.ts', 'states.ts'],
  };

  it.each(Object.keys(ALLOWED))('src/%s imports only what ARCHITECTURE.md allows', (part) => {
    const files = part.endsWith('.ts') ? [path.join('src', part)] : sourceFiles(path.join('src', part));
    const found = new Set<string>();
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) {
        const target = path.relative('src', path.resolve(path.dirname(file), m[1] as string)).split(path.sep);
        const top = target.length > 1 ? (target[0] as string) : (target[0] as string).replace(/\.js$/, '.ts');
        if (top !== part) found.add(top);
      }
    }
    expect([...found].filter((t) => !(ALLOWED[part] as string[]).includes(t)).sort()).toEqual([]);
  });

  it('ARCHITECTURE.md names every top-level part of src/', () => {
    const doc = readFileSync('ARCHITECTURE.md', 'utf8');
    const parts = readdirSync('src').filter((entry) => entry !== 'index.ts');
    expect(parts.filter((p) => !doc.includes(statSync(path.join('src', p)).isDirectory() ? `src/${p}/` : `src/${p}`))).toEqual([]);
  });
});
