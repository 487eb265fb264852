/**
 * `taskwire keys create | list | revoke`: API keys, straight in the database (DATABASE_URL, or
 * the embedded PostgreSQL under DATA_DIR, the running one when `npm start` has it up).
 */
import path from 'node:path';
import { checkApiKeyInput, createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo } from '../auth/api-keys.js';
import type { Config } from '../config.js';
import { createDb, type Sql } from '../db/client.js';
import { embeddedClusterExists, embeddedUrl, runningEmbeddedPort } from '../db/embedded.js';
import { migrateDatabase } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { BadUserInputError } from '../errors.js';
import { createLogger } from '../logger.js';
import { EXIT, parseCommand, takePositionals, UsageError } from './args.js';
import { table, type Io } from './output.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `45s`, `2w` as ms. */
export function parseExpiresIn(value: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(value.trim());
  const ms = m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : 0;
  if (ms <= 0) throw new UsageError('keys', `--expires-in must be a positive duration such as 30d, 12h, 90m, 45s or 2w, got "${value}"`, '--expires-in');
  return ms;
}

/**
 * A key id as typed: a UUID, the 32 hex digits the key itself carries (`tw_<id without dashes>_…`),
 * which becomes the UUID, or the whole key (someone revoking a leaked key pastes it: its id is taken,
 * and its secret is never echoed back). Anything else is passed on as is (revokeApiKey answers NOT_FOUND).
 */
export function keyIdArgument(value: string): string {
  const id = /^tw_([0-9a-f]{32})_/i.exec(value.trim())?.[1] ?? value.trim();
  const m = /^([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/i.exec(id);
  return m ? m.slice(1).join('-').toLowerCase() : id;
}

/** The flag each field of createApiKey's input comes from. */
const FLAG: Record<string, string> = { tenant: '--tenant', scopes: '--scopes', name: '--name', expiresAt: '--expires-in' };

/** `fn`'s BadUserInputError as the usage error of the flag its field comes from (exit 2). */
async function asUsageError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof BadUserInputError) throw new UsageError('keys', `${FLAG[error.field ?? ''] ?? 'create'}: ${error.message}`, FLAG[error.field ?? '']);
    throw error;
  }
}

/** `taskwire keys <create|list|revoke> …`; returns the exit code. */
export async function runKeysCommand(args: string[], config: Config, io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values, positionals } = parseCommand('keys', rest, {
        tenant: { type: 'string' },
        scopes: { type: 'string' },
        name: { type: 'string' },
        'expires-in': { type: 'string' },
        json: { type: 'boolean' },
      });
      takePositionals('keys', positionals, []);
      if (values.tenant === undefined) throw new UsageError('keys', 'create needs --tenant T', '--tenant');
      if (values.scopes === undefined) throw new UsageError('keys', 'create needs --scopes a,b (e.g. tasks:read,tasks:enqueue)', '--scopes');
      const scopes = values.scopes.split(',').map((s) => s.trim()).filter(Boolean);
      // Counted on the database's clock, as expiry is judged (this host's may be off).
      const expiresInMs = values['expires-in'] === undefined ? undefined : parseExpiresIn(values['expires-in']);
      const input = { tenant: values.tenant, scopes, name: values.name, expiresInMs };
      // Refused before a database is opened, or made: under a DATA_DIR with none, a bad tenant made one first.
      await asUsageError(async () => checkApiKeyInput(input));
      const created = await withDatabase(config, io, true, (sql) => asUsageError(() => createApiKey(sql, input)));
      if (values.json) {
        io.out(`${JSON.stringify(created)}\n`);
      } else {
        // The key alone on stdout (KEY=$(taskwire keys create …)); what it is on stderr.
        io.out(`${created.key}\n`);
        io.err(
          `API key ${created.id} for tenant ${created.tenant}, scopes ${created.scopes.join(',')}` +
            `${created.name ? `, name ${created.name}` : ''}, ${created.expiresAt ? `expires ${shortTime(created.expiresAt)}` : 'never expires'}.\n` +
            'Store it now: it is not shown again (only its hash is kept).\n',
        );
      }
      return EXIT.ok;
    }
    case 'list': {
      const { values, positionals } = parseCommand('keys', rest, { json: { type: 'boolean' } });
      takePositionals('keys', positionals, []);
      const keys = await withDatabase(config, io, false, listApiKeys);
      io.out(values.json ? `${JSON.stringify(keys)}\n` : keysTable(keys));
      return EXIT.ok;
    }
    case 'revoke': {
      const { values, positionals } = parseCommand('keys', rest, { json: { type: 'boolean' } });
      const [typed] = takePositionals('keys', positionals, ['ID']) as [string];
      const id = keyIdArgument(typed);
      const revoked = await withDatabase(config, io, false, (sql) => revokeApiKey(sql, id));
      io.out(values.json ? `${JSON.stringify(revoked)}\n` : `revoked ${revoked.id} (${shortTime(revoked.revokedAt)})\n`);
      return EXIT.ok;
    }
    default:
      throw new UsageError('keys', sub === undefined ? 'missing create, list or revoke' : `unknown keys command "${sub}" (create, list or revoke)`);
  }
}

function keysTable(keys: ApiKeyInfo[]): string {
  if (keys.length === 0) return 'no API keys (taskwire keys create --tenant T --scopes …)\n';
  return table(
    ['ID', 'TENANT', 'SCOPES', 'NAME', 'CREATED', 'EXPIRES', 'REVOKED'],
    keys.map((k) => [k.id, k.tenant, k.scopes.join(','), k.name ?? '-', shortTime(k.createdAt), shortTime(k.expiresAt), shortTime(k.revokedAt)]),
  );
}

/** `2025-01-31 12:00:00Z`, or `-`. */
function shortTime(date: Date | null): string {
  return date ? date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

/**
 * Runs `fn` on a one-connection pool to the deployment's database, migrated. The embedded
 * PostgreSQL that `npm start` runs is used as it is: starting one on the same data would stop it.
 * With no embedded database under DATA_DIR yet (run from another directory than `npm start`'s, DATA_DIR
 * relative), `create` makes one and says so (provisioning a key before the first start is fine, a key
 * made in a stray `.data` is the trap it names); `list` and `revoke` refuse, naming the directory,
 * rather than answer "no API keys" or NOT_FOUND about a database nobody runs.
 */
async function withDatabase<T>(config: Config, io: Io, creates: boolean, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const dataDir = path.resolve(config.dataDir);
  const port = config.databaseUrl ? undefined : await runningEmbeddedPort(dataDir);
  if (!config.databaseUrl && port === undefined && !(await embeddedClusterExists(dataDir))) {
    const where = `no database under DATA_DIR=${dataDir} yet`;
    const fix = 'run it where `npm start` runs (DATA_DIR is relative to the current directory), or set DATA_DIR or DATABASE_URL';
    if (!creates) throw new UsageError('keys', `${where}: ${fix}`, 'DATA_DIR');
    io.err(`taskwire: ${where}: making one there; a server on another DATA_DIR will not know this key (${fix})\n`);
  }
  const database =
    config.databaseUrl || port === undefined
      ? await resolveDatabase(config, createLogger(config.logLevel === 'debug' || config.logLevel === 'trace' ? config.logLevel : 'warn'))
      : { url: embeddedUrl(port), stop: async () => undefined };
  try {
    // Migrations take a session lock: over DATABASE_LISTEN_URL (direct) when set, as `taskwire migrate` does.
    // A DATABASE_URL that cannot be reached is the environment's fault, as for `worker` and `migrate`:
    // exit 2 naming the variable (password masked), not "unexpected error: connect ECONNREFUSED".
    await migrateDatabase(config.databaseListenUrl ?? database.url).catch(async (error: unknown) => {
      const { databaseFailure } = await import('./process.js');
      throw databaseFailure(error, config) ?? error;
    });
    const db = createDb(database.url, { max: 1 });
    try {
      return await fn(db.sql);
    } finally {
      await db.close();
    }
  } finally {
    await database.stop();
  }
}
