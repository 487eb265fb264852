import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { silentLogger } from '../../src/logger.js';
import { createCredentialWatch } from '../../src/server/credential-watch.js';
import { waitFor } from '../helpers/wait.js';

const key = (id: string, o: Partial<Principal> = {}): Principal => ({ kind: 'api-key', id, tenant: 'acme', scopes: ['tasks:read'], ...o });

describe('createCredentialWatch', () => {
  it('asks once per credential per round, however many holders it has; a revoked one ends all its holders, once', async () => {
    const asked: string[] = [];
    const revoked = new Set<string>();
    const watch = createCredentialWatch({
      stillValid: async (p) => {
        asked.push(p.id);
        return !revoked.has(p.id);
      },
      log: silentLogger,
      intervalMs: 20,
    });
    const ended: string[] = [];
    for (let i = 0; i < 5; i += 1) watch.track(key('a'), () => ended.push(`a${i}`));
    for (let i = 0; i < 3; i += 1) watch.track(key('b'), () => ended.push(`b${i}`));
    expect(watch.credentials).toBe(2);
    await waitFor(() => asked.length >= 6, { message: 'three rounds' });
    expect(asked.filter((id) => id === 'a').length).toBe(asked.filter((id) => id === 'b').length);
    revoked.add('a');
    await waitFor(() => ended.length === 5, { message: "a's holders to end" });
    expect(ended.sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(watch.credentials).toBe(1);
    const before = asked.length;
    await waitFor(() => asked.length >= before + 3, { message: 'more rounds' });
    expect(ended).toHaveLength(5);
    expect(asked.slice(before).every((id) => id === 'b')).toBe(true);
    watch.close();
    expect(watch.credentials).toBe(0);
  });

  it('ends a holder at its own expiry, untracked holders never, and keeps going when a check fails', async () => {
    let failing = true;
    const watch = createCredentialWatch({
      stillValid: async () => {
        if (failing) throw new Error('database away');
        return true;
      },
      log: silentLogger,
      intervalMs: 10,
    });
    const ended: string[] = [];
    const soon = new Date(Date.now() + 150);
    watch.track(key('a', { expiresAt: soon }), () => ended.push('soon'));
    watch.track(key('a', { expiresAt: new Date(Date.now() + 60_000) }), () => ended.push('later'));
    const untrack = watch.track(key('a', { expiresAt: soon }), () => ended.push('untracked'));
    untrack();
    watch.track(key('b', { expiresAt: new Date(Date.now() - 1) }), () => ended.push('already'));
    await waitFor(() => ended.length === 2, { message: 'the expired holders to end' });
    expect(Date.now()).toBeGreaterThanOrEqual(soon.getTime());
    expect(ended).toEqual(['already', 'soon']);
    failing = false;
    expect(watch.credentials).toBe(1);
    watch.close();
  });

  it('does not track ANONYMOUS (auth off)', () => {
    const watch = createCredentialWatch({ stillValid: async () => false, log: silentLogger });
    watch.track({ kind: 'anonymous', id: 'anonymous', tenant: 'default', scopes: ['admin'] }, () => undefined);
    expect(watch.credentials).toBe(0);
  });
});
