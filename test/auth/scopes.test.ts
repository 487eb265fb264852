import { describe, expect, it } from 'vitest';
import { ANONYMOUS, isTenant, SCOPES, type Principal } from '../../src/auth/principal.js';
import { globMatches, hasScope, isScope, mayEnqueue, mayEnqueueSome, mayReadTask, visibleTenant } from '../../src/auth/scopes.js';

const principal = (scopes: string[], extra: Partial<Principal> = {}): Principal => ({ kind: 'api-key', id: 'k1', tenant: 'acme', scopes, ...extra });

describe('isScope', () => {
  it.each([...SCOPES, 'tasks:enqueue:reports.*', 'tasks:enqueue:*', 'tasks:enqueue:é😀'])('accepts %s', (scope) => {
    expect(isScope(scope)).toBe(true);
  });

  it.each([
    ['an unknown scope', 'tasks:delete'],
    ['an empty glob', 'tasks:enqueue:'],
    ['a glob with a space', 'tasks:enqueue:a b'],
    ['a glob with a tab', 'tasks:enqueue:a\tb'],
    ['a NUL character', 'tasks:enqueue:a\u0000'],
    ['a control character', 'tasks:enqueue:a\u001b[31m'],
    ['a lone surrogate', 'tasks:enqueue:a\ud800'],
    ['a glob that is too long', `tasks:enqueue:${'x'.repeat(200)}`],
    ['a prefix of a scope', 'tasks'],
    ['a different case', 'ADMIN'],
    ['the empty string', ''],
  ])('refuses %s', (_, scope) => {
    expect(isScope(scope)).toBe(false);
  });

  it('refuses what is not a string', () => {
    expect([undefined, null, 1, ['admin'], { toString: () => 'admin' }].map(isScope)).toEqual([false, false, false, false, false]);
  });
});

describe('isTenant', () => {
  it.each(['default', 'acme', 'Acme Corp', 'tenant-42', 'é😀'])('accepts %s', (tenant) => {
    expect(isTenant(tenant)).toBe(true);
  });

  it.each([
    ['the empty string', ''],
    ['"*" (the server\'s "every tenant")', '*'],
    ['a leading space', ' acme'],
    ['a trailing newline', 'acme\n'],
    ['a NUL character', 'ac\u0000me'],
    ['a lone surrogate', 'ac\udc00me'],
    ['more than 200 characters', 'x'.repeat(201)],
  ])('refuses %s', (_, tenant) => {
    expect(isTenant(tenant)).toBe(false);
  });

  it('refuses what is not a string', () => {
    expect([undefined, 1, ['acme']].map(isTenant)).toEqual([false, false, false]);
  });
});

describe('hasScope', () => {
  it('is true for a held scope and for admin, false otherwise', () => {
    expect(hasScope(principal(['tasks:read']), 'tasks:read')).toBe(true);
    expect(hasScope(principal(['tasks:read']), 'tasks:cancel')).toBe(false);
    expect(hasScope(principal(['admin']), 'queues:admin')).toBe(true);
    expect(hasScope(principal([]), 'tasks:read')).toBe(false);
  });
});

describe('mayEnqueue', () => {
  it('allows any name with tasks:enqueue or admin', () => {
    expect(mayEnqueue(principal(['tasks:enqueue']), 'anything.at.all')).toBe(true);
    expect(mayEnqueue(ANONYMOUS, 'anything')).toBe(true);
  });

  it('allows only the names a tasks:enqueue:<glob> matches', () => {
    const p = principal(['tasks:read', 'tasks:enqueue:reports.*', 'tasks:enqueue:math.copysign']);
    expect(mayEnqueue(p, 'reports.daily')).toBe(true);
    expect(mayEnqueue(p, 'reports.daily.pdf')).toBe(true);
    expect(mayEnqueue(p, 'math.copysign')).toBe(true);
    expect(mayEnqueue(p, 'math.copysign2')).toBe(false);
    expect(mayEnqueue(p, 'reportsXdaily')).toBe(false);
    expect(mayEnqueue(p, 'demo.echo')).toBe(false);
  });

  it('refuses a principal without an enqueue scope', () => {
    expect(mayEnqueue(principal(['tasks:read', 'tasks:cancel']), 'demo.echo')).toBe(false);
  });
});

describe('mayEnqueueSome', () => {
  it('is true for tasks:enqueue, a glob scope or admin only', () => {
    expect(mayEnqueueSome(principal(['tasks:enqueue']))).toBe(true);
    expect(mayEnqueueSome(principal(['tasks:enqueue:demo.*']))).toBe(true);
    expect(mayEnqueueSome(principal(['admin']))).toBe(true);
    expect(mayEnqueueSome(principal(['tasks:read', 'tasks:retry']))).toBe(false);
  });
});

describe('visibleTenant', () => {
  it('is the principal\'s tenant, or null (every tenant) for admin', () => {
    expect(visibleTenant(principal(['tasks:read']))).toBe('acme');
    expect(visibleTenant(principal(['admin']))).toBeNull();
    expect(visibleTenant(ANONYMOUS)).toBeNull();
  });
});

describe('mayReadTask', () => {
  const id = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

  it('limits a read token to its tasks, whatever the case of the id asked for', () => {
    const token = principal(['tasks:read'], { kind: 'read-token', taskIds: [id] });
    expect(mayReadTask(token, id)).toBe(true);
    expect(mayReadTask(token, id.toUpperCase())).toBe(true);
    expect(mayReadTask(token, '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c')).toBe(false);
  });

  it('lets every other principal read any id (its tenant still applies)', () => {
    expect(mayReadTask(principal(['tasks:read']), id)).toBe(true);
  });
});

describe('globMatches', () => {
  it.each([
    ['*', '', true],
    ['*', 'a.b\nc', true],
    ['a*', 'a', true],
    ['a*b', 'ab', true],
    ['a*b', 'axxb', true],
    ['a*b', 'axxbc', false],
    ['*.pdf', 'x.pdf', true],
    ['*.pdf', 'xpdf', false],
    ['a.b', 'aXb', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['(x)', '(x)', true],
    ['a**b', 'ab', true],
    ['', '', true],
    ['', 'a', false],
    ['abc', 'ab', false],
  ])('%j against %j is %s', (glob, name, expected) => {
    expect(globMatches(glob, name)).toBe(expected);
  });

  it('stays fast on a glob that makes a RegExp backtrack', () => {
    const glob = `${'a*'.repeat(12)}b`;
    const name = 'a'.repeat(5000);
    const started = performance.now();
    expect(globMatches(glob, name)).toBe(false);
    // A backtracking RegExp takes far longer (minutes); the linear match well under a second.
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
