import { readdirSync, readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_AUTH_SCRIPT, withGraphiQLSignIn } from '../../src/dashboard/serve.js';
import { encodeVersionCursor } from '../../src/queue/event-log.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer({ runner: false });
  base = server.url.slice(0, -'/graphql'.length);
});
afterAll(async () => {
  await server?.close();
});

/** Every script of the page: each must be served, and none may write markup. */
const MODULES = readdirSync('src/dashboard').filter((file) => file.endsWith('.js'));

/** The browser modules, loaded in Node: they touch no DOM at import time. */
const api = (await import('../../src/dashboard/api.js' as string)) as Record<string, unknown>;
const live = (await import('../../src/dashboard/live.js' as string)) as {
  applyChange(page: unknown, task: unknown, filter: unknown): string | null;
  dropUnmatched(page: unknown, filter: unknown): number;
  createPage(mode?: string, cursor?: string | null): { rows: { id: string; version: number }[]; pageInfo: unknown; totalCount: number | null; first: boolean };
};

describe('dashboard routes', () => {
  it('serves the page with a strict Content-Security-Policy', async () => {
    for (const path of ['/dashboard', '/dashboard/']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/dashboard/app.js">');
      // No inline script: everything the page runs is a file the policy allows.
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      expect(scripts).toContain('<script type="module" src="/dashboard/app.js">');
      for (const tag of scripts) expect(tag).toMatch(/^<script type="module" src="\/dashboard\/[\w-]+\.js">$/);
      expect(html).not.toMatch(/<script\b[^>]*>\s*[^<\s]/);
    }
  });

  it('serves its modules and stylesheet with their types, and the task names', async () => {
    for (const file of MODULES) {
      const res = await fetch(`${base}/dashboard/${file}`);
      expect([file, res.status, res.headers.get('content-type')]).toEqual([file, 200, 'text/javascript; charset=utf-8']);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await fetch(`${base}/dashboard/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await (await fetch(`${base}/dashboard/tasks.json`)).json()).toEqual({ names: server.deps.registry.names() });
    expect((await fetch(`${base}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/dashboard/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/dashboard`, { method: 'POST', body: 'x' })).status).toBe(405);
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/dashboard']);
  });

  it('never puts task data into markup (no innerHTML, no insertAdjacentHTML, no document.write)', () => {
    for (const file of MODULES) {
      const source = readFileSync(`src/dashboard/${file}`, 'utf8');
      expect([file, source.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/g)]).toEqual([file, null]);
    }
  });

  // A rule has one home: the notice was copied into app.js, queues.js and schedules.js, and a
  // change to where notices go (off the pager) had to be made three times.
  it('makes notices in one module, notices.js, which every other imports', () => {
    const makers = MODULES.filter((file) => /function notice\b|class: `notice\b|getElementById\('notices'\)|byId\('notices'\)/.test(readFileSync(`src/dashboard/${file}`, 'utf8')));
    expect(makers).toEqual(['notices.js']);
    const callers = MODULES.filter((file) => file !== 'notices.js' && /\bnotice\(`/.test(readFileSync(`src/dashboard/${file}`, 'utf8')));
    for (const file of callers.filter((f) => f !== 'workflow.js')) expect([file, readFileSync(`src/dashboard/${file}`, 'utf8')]).toEqual([file, expect.stringContaining("import { notice } from './notices.js';")]);
    expect(callers.sort()).toEqual(['app.js', 'queues.js', 'schedules.js', 'workflow.js']);
  });
});

describe('dashboard operations', () => {
  it('are valid against schema/schema.graphql', () => {
    const schema = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
    const documents = Object.entries(api).filter(([, v]) => typeof v === 'string' && /^(query|mutation|subscription) /.test(v));
    expect(documents.map(([name]) => name).sort()).toEqual(['CANCEL', 'CHANGES', 'CLOCK', 'COUNT', 'EARLIER_EVENTS', 'ENQUEUE', 'EVENTS', 'RETRY', 'RUN_NOW', 'STATS', 'TASKS', 'VIEWER', 'WATCH']);
    for (const [name, text] of documents) expect([name, validate(schema, parse(text as string)).map((e) => e.message)]).toEqual([name, []]);
  });

  it('make the Task.events cursor of a version as the API does (to load earlier events)', () => {
    const versionCursor = api.versionCursor as (version: number) => string;
    for (const version of [0, 1, 999, 1500, 123_456_789]) expect(versionCursor(version)).toBe(encodeVersionCursor(version));
  });
});

describe('GraphiQL sign-in (withGraphiQLSignIn, graphiql-auth.js)', () => {
  it('loads the sign-in script first in the head, before any script of the page', () => {
    const page = '<!doctype html><html><head><meta charset="utf-8"><script>inline()</script></head><body><script>render()</script></body></html>';
    const out = withGraphiQLSignIn(page);
    const scripts = out.match(/<script\b[^>]*>/g);
    expect(scripts?.[0]).toBe(`<script src="${GRAPHIQL_AUTH_SCRIPT}">`);
    expect(out.indexOf(GRAPHIQL_AUTH_SCRIPT)).toBeGreaterThan(out.indexOf('<head>'));
    expect(out.replace(`\n<script src="${GRAPHIQL_AUTH_SCRIPT}"></script>`, '')).toBe(page);
  });

  it('keeps the token under the dashboard\'s key: one sign-in serves both pages', async () => {
    const session = (await import('../../src/dashboard/session.js' as string)) as { TOKEN_KEY: string };
    const script = readFileSync('src/dashboard/graphiql-auth.js', 'utf8');
    expect(script).toContain(`const TOKEN_KEY = '${session.TOKEN_KEY}';`);
  });
});

describe('applyChange (live.js)', () => {
  const task = (id: string, version = 1, status = 'PENDING', queue = 'default') => ({ id, version, status, queue, name: 'demo.echo' });
  const filter = { status: [] as string[], queue: '', name: '' };
  const page = (ids: string[], hasNextPage: boolean) => {
    const p = live.createPage();
    p.rows = ids.map((id) => task(id));
    p.pageInfo = { hasNextPage, hasPreviousPage: false };
    p.totalCount = ids.length + (hasNextPage ? 10 : 0);
    return p;
  };

  it('updates a shown task only with a newer version', () => {
    const p = page(['b', 'a'], false);
    expect(live.applyChange(p, task('a', 3, 'RUNNING'), filter)).toBe('updated');
    expect(live.applyChange(p, task('a', 2, 'PENDING'), filter)).toBeNull();
    expect(p.rows[1]).toMatchObject({ version: 3, status: 'RUNNING' });
  });

  it('inserts a new match at its place on the first page, and nothing older than a full page\'s last row', () => {
    const p = page(['d', 'b'], true);
    expect(live.applyChange(p, task('e'), filter)).toBe('inserted');
    expect(live.applyChange(p, task('c'), filter)).toBe('inserted');
    expect(live.applyChange(p, task('a'), filter)).toBeNull();
    expect(p.rows.map((r) => r.id)).toEqual(['e', 'd', 'c', 'b']);
    expect(p.totalCount).toBe(14);
    expect(live.applyChange(p, task('f', 1, 'PENDING', 'other'), { ...filter, queue: 'default' })).toBeNull();
    expect(live.applyChange(p, task('g', 1, 'PENDING'), { ...filter, status: ['FAILED'] })).toBeNull();
  });

  it('says when a row leaves the filter, and the count follows rows leaving and joining it', () => {
    const p = page(['b', 'a'], false);
    p.totalCount = 2;
    const pending = { ...filter, status: ['PENDING'] };
    expect(live.applyChange(p, task('a', 2, 'RUNNING'), pending)).toBe('left');
    expect(p.totalCount).toBe(1);
    expect(live.applyChange(p, task('a', 3, 'PENDING'), pending)).toBe('updated');
    expect(p.totalCount).toBe(2);
    live.applyChange(p, task('b', 2, 'SUCCEEDED'), pending);
    expect(live.dropUnmatched(p, pending)).toBe(1);
    expect(p.rows.map((r) => r.id)).toEqual(['a']);
  });

  it('drops a wait reason the change does not carry: the one read with the list no longer holds', () => {
    const p = page(['a'], false);
    (p.rows[0] as Record<string, unknown>).waitReason = 'DEPENDENCIES';
    live.applyChange(p, { ...task('a', 2, 'PENDING') }, filter);
    expect(p.rows[0]).toMatchObject({ status: 'PENDING', waitReason: null });
  });

  it('inserts anything matching when the first page holds every match, and nothing on other pages', () => {
    expect(live.applyChange(page(['d'], false), task('a'), filter)).toBe('inserted');
    const second = live.createPage('after', 'cursor');
    second.rows = [task('b')];
    expect(live.applyChange(second, task('z'), filter)).toBeNull();
  });
});

describe('row actions (render.js)', () => {
  it('offers Cancel on every state cancelTask takes: a BLOCKED workflow step too', async () => {
    const render = (await import('../../src/dashboard/render.js' as string)) as { canCancel(task: { status: string; cancelRequested?: boolean }): boolean };
    const cancellable = ['BLOCKED', 'PENDING', 'RETRYING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'].filter((status) => render.canCancel({ status, cancelRequested: false }));
    expect(cancellable).toEqual(['BLOCKED', 'PENDING', 'RETRYING', 'RUNNING']);
    expect(render.canCancel({ status: 'RUNNING', cancelRequested: true })).toBe(false);
  });
});
