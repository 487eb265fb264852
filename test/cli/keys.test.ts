import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listApiKeys, verifyApiKey } from '../../src/auth/api-keys.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runCli } from './run-cli.js';

const SHARED = '/var/lib/taskwire';
let t: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase();
  env = { DATABASE_URL: t.url, LOG_LEVEL: 'warn' };
});

afterAll(async () => {
  await t?.drop();
});

describe('taskwire keys create', () => {
  it('prints the key alone on stdout, once, says so on stderr, and the key works', async () => {
    const result = await runCli(['keys', 'create', '--tenant', 'acme', '--scopes', 'tasks:read,tasks:enqueue', '--name', 'ci'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^tw_[0-9a-f]{32}_[A-Za-z0-9_-]{43}\n$/);
    expect(result.stderr).toMatch(/not shown again/);
    const key = result.stdout.trim();
    const principal = await verifyApiKey(t.db.sql, key);
    expect(principal).toMatchObject({ kind: 'api-key', tenant: 'acme', scopes: ['tasks:read', 'tasks:enqueue'] });
    expect(result.stderr).toContain(principal!.id);
    expect(result.stderr).not.toContain(key);
    const listed = await runCli(['keys', 'list', '--json'], env);
    expect(listed.stdout).not.toContain(key.slice(36));
  });

  it('--expires-in sets the expiry; --json prints the key with its fields', async () => {
    const result = await runCli(['keys', 'create', '--tenant', 'globex', '--scopes', 'tasks:enqueue:reports.*', '--expires-in', '30d', '--json'], env);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout) as { id: string; key: string; tenant: string; scopes: string[]; expiresAt: string };
    expect(created).toMatchObject({ tenant: 'globex', scopes: ['tasks:enqueue:reports.*'], name: null });
    expect(Math.abs(Date.parse(created.expiresAt) - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
    expect(await verifyApiKey(t.db.sql, created.key)).toMatchObject({ id: created.id, expiresAt: new Date(created.expiresAt) });
  });

  // Concurrent: each spawns the CLI, and none stores anything.
  it.concurrent.each([
    ['an unknown scope', ['--tenant', 'acme', '--scopes', 'tasks:read,tasks:fly'], /--scopes/],
    ['no --tenant', ['--scopes', 'tasks:read'], /--tenant/],
    ['no --scopes', ['--tenant', 'acme'], /--scopes/],
    ['an empty tenant', ['--tenant', '', '--scopes', 'tasks:read'], /--tenant/],
    ['a bad --expires-in', ['--tenant', 'acme', '--scopes', 'tasks:read', '--expires-in', '30 days'], /--expires-in/],
    ['an unknown flag', ['--tenant', 'acme', '--scopes', 'tasks:read', '--admin'], /--admin/],
  ])('refuses %s with exit code 2, storing nothing', async (_, args, message) => {
    const before = (await listApiKeys(t.db.sql)).length;
    const result = await runCli(['keys', 'create', ...args], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
    // With --json the option at fault is the error's field.
    const field = /--[a-z-]+/.exec(String(message))?.[0];
    const asJson = await runCli(['keys', 'create', ...args, '--json'], env);
    expect(JSON.parse(asJson.stderr.trim()).error.field).toBe(field);
    expect(await listApiKeys(t.db.sql)).toHaveLength(before);
  });
});

describe('taskwire keys list and revoke', () => {
  it('lists keys with their state; revoke makes the key fail at once, twice is fine, an unknown id exits 1', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'initech', '--scopes', 'admin', '--name', 'ops'], env);
    const key = created.stdout.trim();
    const { id } = (await verifyApiKey(t.db.sql, key))!;
    const list = await runCli(['keys', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID +TENANT +SCOPES +NAME +CREATED +EXPIRES +REVOKED$/);
    expect(list.stdout).toMatch(new RegExp(`^${id} +initech +admin +ops +\\S+ \\S+ +- +-$`, 'm'));

    const revoked = await runCli(['keys', 'revoke', id], env);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout).toMatch(new RegExp(`^revoked ${id} `));
    expect(await verifyApiKey(t.db.sql, key)).toBeUndefined();

    const [again, unknown, json] = await Promise.all([
      runCli(['keys', 'revoke', id], env),
      runCli(['keys', 'revoke', '01900000-0000-7000-8000-000000000000'], env),
      runCli(['keys', 'list', '--json'], env),
    ]);
    expect(again.code).toBe(0);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^taskwire: NOT_FOUND: /);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    const row = rows.find((r) => r.id === id)!;
    expect(row).toMatchObject({ tenant: 'initech', scopes: ['admin'], name: 'ops', expiresAt: null });
    expect(typeof row.revokedAt).toBe('string');
    expect(Object.keys(row).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'name', 'revokedAt', 'scopes', 'tenant']);
  });

  it('revokes by the id as the key carries it (32 hex digits, no dashes), in either case', async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'initech', '--scopes', 'tasks:read'], env);
    const key = created.stdout.trim();
    const dashless = /^tw_([0-9a-f]{32})_/.exec(key)?.[1];
    expect(dashless).toBeDefined();
    const { id } = (await verifyApiKey(t.db.sql, key))!;
    expect(id.replace(/-/g, '')).toBe(dashless);

    const revoked = await runCli(['keys', 'revoke', dashless!.toUpperCase(), '--json'], env);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id });
    expect(await verifyApiKey(t.db.sql, key)).toBeUndefined();

    const unknown = await runCli(['keys', 'revoke', '0190000000007000800000000000000f'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^taskwire: NOT_FOUND: /);
  });

  it('revokes by the whole key pasted (a leaked one), never printing its secret again', async () => {
    const key = (await runCli(['keys', 'create', '--tenant', 'initech', '--scopes', 'tasks:read'], env)).stdout.trim();
    const secret = key.slice(36);
    const revoked = await runCli(['keys', 'revoke', key], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout + revoked.stderr).not.toContain(secret);
    expect(await verifyApiKey(t.db.sql, key)).toBeUndefined();
  });

  it('exits 2 naming DATABASE_URL, its password masked, when the database cannot be reached (as worker and migrate do)', async () => {
    const closed = 'postgres://postgres:hunter2@127.0.0.1:1/none';
    for (const args of [['list'], ['create', '--tenant', 'a', '--scopes', 'tasks:read'], ['revoke', '01900000-0000-7000-8000-000000000000']]) {
      const result = await runCli(['keys', ...args, '--json'], { ...env, DATABASE_URL: closed });
      expect(result.code, args[0]).toBe(2);
      expect(JSON.parse(result.stderr.trim().split('\n').at(-1) ?? '')).toMatchObject({ error: { code: 'CONFIG_INVALID', field: 'DATABASE_URL', message: expect.stringMatching(/^cannot connect to DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none: /) } });
      expect(result.stderr).not.toContain('hunter2');
    }
  });

  it('on a DATA_DIR with no embedded database: list, revoke and a refused create make none; create makes one and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskwire-keys-'));
    chmodSync(dir, 0o755); // the embedded server's user must enter it (as root)
    const stray = join(dir, '.data');
    const embedded = { LOG_LEVEL: 'warn', DATABASE_URL: '', DATA_DIR: stray };
    try {
      for (const args of [['list'], ['revoke', '01900000-0000-7000-8000-000000000000']]) {
        const result = await runCli(['keys', ...args, '--json'], embedded);
        expect(result.code, args[0]).toBe(2);
        expect(JSON.parse(result.stderr.trim().split('\n').at(-1) ?? '')).toEqual({
          error: { code: 'BAD_USAGE', field: 'DATA_DIR', message: `no database under DATA_DIR=${stray} yet: run it where \`npm start\` runs (DATA_DIR is relative to the current directory), or set DATA_DIR or DATABASE_URL` },
        });
      }
      // Nor does a create whose input is refused: it used to make the database first (initdb, ~2 s).
      const refused = await runCli(['keys', 'create', '--tenant', ' a', '--scopes', 'tasks:read'], embedded);
      expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/^taskwire keys: --tenant: A tenant is/)]);
      expect(existsSync(stray)).toBe(false);
      // Provisioning a key before the first start still works, with a word about where it went.
      const created = await runCli(['keys', 'create', '--tenant', 'a', '--scopes', 'tasks:read'], embedded, 120_000);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/^tw_/);
      expect(created.stderr).toContain(`taskwire: no database under DATA_DIR=${stray} yet: making one there; a server on another DATA_DIR will not know this key`);
      const listed = await runCli(['keys', 'list', '--json'], embedded, 60_000);
      expect([listed.code, (JSON.parse(listed.stdout) as unknown[]).length]).toEqual([0, 1]);
    } finally {
      // As root the cluster may live under /var/lib/taskwire, in a directory whose data-dir names ours.
      for (const entry of existsSync(SHARED) ? readdirSync(SHARED) : []) {
        const pointer = join(SHARED, entry, 'data-dir');
        if (existsSync(pointer) && readFileSync(pointer, 'utf8').trim() === stray) rmSync(join(SHARED, entry), { recursive: true, force: true });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown subcommand and a missing id with exit code 2; --help says how', async () => {
    const [unknown, missing, help] = await Promise.all([runCli(['keys', 'rotate'], env), runCli(['keys', 'revoke'], env), runCli(['keys', '--help'], env)]);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: taskwire keys create --tenant T --scopes a,b/);
    expect(unknown.code).toBe(2);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing ID/);
  });
});
