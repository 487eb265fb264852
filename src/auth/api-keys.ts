/**
 * API keys: made, listed, revoked and checked here. A key is `tw_<id>_<secret>`; the id (the
 * row's uuid without dashes) is public and names the principal, the secret (32 random bytes)
 * is shown once and only its SHA-256 is kept (`api_keys.secret_hash`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Executor } from '../db/client.js';
import { BadUserInputError, CredentialExpiredError, NotFoundError } from '../errors.js';
import { createMicroBatcher } from '../queue/micro-batcher.js';
import { isUuid, uuidv7 } from '../queue/uuid.js';
import { isTenant, MAX_TENANT_LENGTH, type Principal, type Scope } from './principal.js';
import { isScope } from './scopes.js';

/** A key as `keys list` shows it: never its secret or hash. */
export interface ApiKeyInfo {
  id: string;
  tenant: string;
  scopes: Scope[];
  name: string | null;
  createdAt: Date;
  /** Null: never expires. */
  expiresAt: Date | null;
  /** Null: not revoked. */
  revokedAt: Date | null;
}

/** A key just made: `key` is the only time its secret is seen. */
export interface CreatedApiKey {
  id: string;
  /** `tw_<id without dashes>_<43 base64url characters>`: what clients send as `Authorization: Bearer …`. */
  key: string;
  tenant: string;
  scopes: Scope[];
  name: string | null;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface CreateApiKeyInput {
  /** The tenant whose tasks the key sees and creates (see isTenant). */
  tenant: string;
  /** What it may do: at least one scope, each passing isScope. Duplicates are dropped. */
  scopes: readonly string[];
  /** A label for people, up to 200 characters. */
  name?: string | undefined;
  /** When it stops working; must be in the future by the database's clock. Undefined: never (or expiresInMs). */
  expiresAt?: Date | undefined;
  /**
   * Or: how long it works from its creation, in ms, counted on the database's clock (what expiry is
   * judged by): a CLI host minutes behind had made a key expired before it was created.
   */
  expiresInMs?: number | undefined;
}

/** Prefix of every API key: tells it apart from a JWT or read token at a glance (and to secret scanners). */
export const API_KEY_PREFIX = 'tw_';
const KEY_RE = /^tw_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;
const MAX_NAME_LENGTH = 200;

/** hex SHA-256 of the secret part: a 256-bit random secret needs no salt or slow hash. */
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Not revoked, and not expired at `now` (judged here, by this process's clock, as JWT expiry is). */
function usable(row: { expiresAt: Date | null; revokedAt: Date | null }, now: Date): boolean {
  return row.revokedAt === null && (row.expiresAt === null || row.expiresAt.getTime() > now.getTime());
}

/** The id and secret of a string shaped like an API key, or undefined. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = KEY_RE.exec(key);
  if (!m) return undefined;
  const hex = m[1] as string;
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, secret: m[2] as string };
}

function validScopes(scopes: readonly string[]): Scope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) throw new BadUserInputError('At least one scope is required', { field: 'scopes' });
  const bad = scopes.filter((s) => !isScope(s));
  if (bad.length > 0) {
    throw new BadUserInputError(`Unknown scope(s): ${bad.map((s) => JSON.stringify(s)).join(', ')} (see docs/auth.md)`, { field: 'scopes' });
  }
  return [...new Set(scopes)];
}

/** What createApiKey stores of its input, once checked. */
interface CheckedApiKeyInput {
  scopes: Scope[];
  name: string | null;
  expiresAt: Date | null;
  expiresInMs: number | null;
}

/**
 * What createApiKey checks before it writes (all but "in the future", judged by the database's
 * clock), for a caller to refuse bad input before it opens a database (the CLI).
 * @throws BadUserInputError naming `tenant`, `scopes`, `name` or `expiresAt`.
 */
export function checkApiKeyInput(input: CreateApiKeyInput): CheckedApiKeyInput {
  if (!isTenant(input.tenant)) {
    throw new BadUserInputError(
      `A tenant is 1 to ${MAX_TENANT_LENGTH} characters, not "*", without control characters or surrounding spaces`,
      { field: 'tenant' },
    );
  }
  const scopes = validScopes(input.scopes);
  const name = input.name ?? null;
  if (name !== null && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || /[\p{Cc}\p{Cs}]/u.test(name))) {
    throw new BadUserInputError(`A name is at most ${MAX_NAME_LENGTH} characters, without control characters`, { field: 'name' });
  }
  const expiresAt = input.expiresAt ?? null;
  const expiresInMs = input.expiresInMs ?? null;
  if (expiresAt !== null && !(expiresAt instanceof Date && Number.isFinite(expiresAt.getTime()))) {
    throw new BadUserInputError('expiresAt must be a time in the future', { field: 'expiresAt' });
  }
  if (expiresInMs !== null && (!(Number.isSafeInteger(expiresInMs) && expiresInMs > 0) || expiresAt !== null)) {
    throw new BadUserInputError('expiresInMs must be a positive whole number of ms, and not given with expiresAt', { field: 'expiresAt' });
  }
  return { scopes, name, expiresAt, expiresInMs };
}

/**
 * Makes an API key and stores its hash. The returned `key` is not stored anywhere: show it once.
 * @throws BadUserInputError naming `tenant`, `scopes`, `name` or `expiresAt`.
 */
export async function createApiKey(sql: Executor, input: CreateApiKeyInput): Promise<CreatedApiKey> {
  const { scopes, name, expiresAt, expiresInMs } = checkApiKeyInput(input);
  const id = uuidv7();
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  // "In the future" and "from now" by the database's clock, which every server judges expiry by.
  const [row] = await sql<{ createdAt: Date; expiresAt: Date | null }[]>`
    INSERT INTO api_keys (id, tenant, scopes, name, secret_hash, expires_at)
    SELECT ${id}, ${input.tenant}, ${scopes}::text[], ${name}, ${hashSecret(secret)}, e.at
    FROM (SELECT coalesce(${expiresAt}::timestamptz, now() + ${expiresInMs}::float8 * interval '1 millisecond') AS at) AS e
    WHERE e.at IS NULL OR e.at > now()
    RETURNING created_at, expires_at`;
  if (!row) throw new BadUserInputError('expiresAt must be a time in the future', { field: 'expiresAt' });
  return {
    id,
    key: `${API_KEY_PREFIX}${id.replaceAll('-', '')}_${secret}`,
    tenant: input.tenant,
    scopes,
    name,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
  };
}

/** Every key, oldest first, revoked and expired ones included (never a hash). */
export async function listApiKeys(sql: Executor): Promise<ApiKeyInfo[]> {
  return sql<ApiKeyInfo[]>`
    SELECT id, tenant, scopes, name, created_at, expires_at, revoked_at FROM api_keys ORDER BY created_at, id`;
}

/**
 * Revokes a key: requests with it fail from the moment this returns. Idempotent: revoking a
 * revoked key keeps its first revocation time.
 * @throws NotFoundError for an unknown (or malformed) id.
 */
export async function revokeApiKey(sql: Executor, id: string): Promise<ApiKeyInfo> {
  if (!isUuid(id)) throw new NotFoundError('API key', id);
  const [row] = await sql<ApiKeyInfo[]>`
    UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = ${id}
    RETURNING id, tenant, scopes, name, created_at, expires_at, revoked_at`;
  if (!row) throw new NotFoundError('API key', id);
  return row;
}

/** What checking a key needs of its row. */
interface KeyRow {
  id: string;
  tenant: string;
  scopes: string[];
  name: string | null;
  secretHash: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** The rows of `ids` (each read once however often it is asked for), in no particular order. */
async function readKeyRows(sql: Executor, ids: readonly string[]): Promise<KeyRow[]> {
  return sql<KeyRow[]>`
    SELECT id, tenant, scopes, name, secret_hash, expires_at, revoked_at FROM api_keys WHERE id = ANY(${[...new Set(ids)]}::uuid[])`;
}

/** Whether `parsed` carries the secret of `row`. */
function secretMatches(parsed: { secret: string }, row: KeyRow): boolean {
  // Compared in constant time: how much of the hash matched must not show in the response time.
  const expected = Buffer.from(row.secretHash, 'hex');
  const actual = createHash('sha256').update(parsed.secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The principal of `parsed` given its row (undefined: unknown, wrong secret, revoked or expired). */
function principalOf(parsed: { id: string; secret: string }, row: KeyRow | undefined, now: Date): Principal | undefined {
  return row && secretMatches(parsed, row) && usable(row, now) ? keyPrincipal(parsed.id, row) : undefined;
}

/** The principal of a key whose secret and validity were checked. */
function keyPrincipal(id: string, row: KeyRow): Principal {
  return {
    kind: 'api-key',
    id,
    tenant: row.tenant,
    scopes: Object.freeze([...row.scopes]),
    ...(row.name ? { name: row.name } : {}),
    ...(row.expiresAt ? { expiresAt: row.expiresAt } : {}),
  };
}

/**
 * The principal of an API key, or undefined when the key is malformed, unknown, revoked,
 * expired or its secret is wrong (the caller cannot tell which). One primary-key read.
 * @param now the time expiry is judged at (default: now).
 */
export async function verifyApiKey(sql: Executor, key: string, now: Date = new Date()): Promise<Principal | undefined> {
  const parsed = parseApiKey(key);
  if (!parsed) return undefined;
  const [row] = await readKeyRows(sql, [parsed.id]);
  return principalOf(parsed, row, now);
}

/**
 * Whether the key `id` still works: known, not revoked, not expired at `now`. What open
 * subscriptions are re-checked with (one primary-key read).
 */
export async function apiKeyStillValid(sql: Executor, id: string, now: Date = new Date()): Promise<boolean> {
  if (!isUuid(id)) return false;
  const [row] = await readKeyRows(sql, [id]);
  return row !== undefined && usable(row, now);
}

/** verifyApiKey and apiKeyStillValid for a server: the same checks, concurrent reads shared. */
export interface ApiKeyChecker {
  /**
   * As verifyApiKey, except for a revoked or expired key sent with its right secret.
   * @throws CredentialExpiredError for that one: its holder knew the secret, so it is no guess
   *   (the failed-authentication throttle does not count it) and may be told why.
   */
  verify(key: string, now?: Date): Promise<Principal | undefined>;
  /** As apiKeyStillValid. */
  stillValid(id: string, now?: Date): Promise<boolean>;
}

/**
 * Checks API keys as verifyApiKey and apiKeyStillValid do, but the reads that arrive while one
 * is in flight go together as the next query (`id = ANY(…)`; src/queue/micro-batcher.ts). Each
 * check still reads its key's row after it was asked for — a batch is sent only once all its
 * checks have arrived, and nothing is kept between batches — so a revocation committed before a
 * request holds for that request, as with a read of its own.
 *
 * Why: each request's read returns at its own moment, which spreads requests that had been
 * arriving together, and their enqueues then miss each other's group commit (one durable commit
 * per statement, src/queue/enqueue-batcher.ts). Reads answered together send requests on
 * together, and a busy server makes one key read per round trip instead of one per request.
 */
export function createApiKeyChecker(sql: Executor): ApiKeyChecker {
  const rows = createMicroBatcher<string, KeyRow | undefined>({
    // A batch's size is the requests that arrived during one read; the cap only bounds the array sent.
    maxBatch: 1000,
    async flush(ids) {
      // PostgreSQL answers lowercase; an id asked for in capitals is the same key.
      const byId = new Map((await readKeyRows(sql, ids)).map((row) => [row.id.toLowerCase(), row]));
      return ids.map((id) => byId.get(id.toLowerCase()));
    },
  });
  // The checks asked for during one turn of the event loop (say, the requests read from several
  // sockets in one poll phase) join the batcher together at the turn's end: the batcher sends
  // a lone item on the next microtask, which comes between two sockets' callbacks. Waiting for
  // the turn to end costs a request microseconds; measured over HTTP it made requests share
  // reads (and their enqueues share commits) as often as without auth (docs/auth.md).
  type Asked = { id: string; resolve(row: Promise<KeyRow | undefined>): void };
  let turn: Asked[] | undefined;
  const read = (id: string): Promise<KeyRow | undefined> =>
    new Promise((resolve) => {
      if (!turn) {
        const asked: Asked[] = [];
        turn = asked;
        setImmediate(() => {
          turn = undefined;
          for (const a of asked) a.resolve(rows.add(a.id));
        });
      }
      turn.push({ id, resolve });
    });
  return {
    async verify(key, now = new Date()) {
      const parsed = parseApiKey(key);
      if (!parsed) return undefined;
      const row = await read(parsed.id);
      if (!row || !secretMatches(parsed, row)) return undefined;
      if (!usable(row, now)) throw new CredentialExpiredError('The API key has expired or was revoked: use another one');
      return keyPrincipal(parsed.id, row);
    },
    async stillValid(id, now = new Date()) {
      if (!isUuid(id)) return false;
      const row = await read(id);
      return row !== undefined && usable(row, now);
    },
  };
}
