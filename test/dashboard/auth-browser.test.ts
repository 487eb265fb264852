import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';
import { crossOriginAttempts, type AttemptOutcome } from './cross-origin-page.js';

warnIfBrowserSkipped('the dashboard and GraphiQL sign-in test');

/**
 * The dashboard and GraphiQL with AUTH_MODE=on, in headless Chromium: both ask for a token, keep
 * it for the tab, send it on HTTP and graphql-ws, and follow live changes with it; a page of
 * another origin gets nothing through, even holding a valid token.
 */

const SECRET = 'dashboard-auth-test-secret-of-32-characters-at-least';
const TENANT = 'acme';

let server: TestServer;
let base: string;
let browser: Browser;
let other: Server;
let otherOrigin: string;
const problems: string[] = [];

async function mint(sub: string, seconds = 600, scope = 'tasks:read tasks:enqueue tasks:cancel tasks:retry'): Promise<string> {
  return new SignJWT({ tenant: TENANT, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

async function enqueueAs(token: string, args: unknown[]): Promise<string> {
  const res = await server.post(
    { query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input: { name: 'math.copysign', args } } },
    { authorization: `Bearer ${token}` },
  );
  const id = (res.data as { enqueueTask?: { task: { id: string } } } | undefined)?.enqueueTask?.task.id;
  if (!id) throw new Error(`enqueue failed: ${JSON.stringify(res.errors)}`);
  return id;
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  return page;
}

/**
 * GraphiQL's page loads ~9 MB of script (two files, gzipped), parsed and run on every first visit
 * to an origin. Idle that takes 0.4–3 s, beside the rolling-deploy test 3–5 s; one CI run took over
 * 30 s on a busy machine. The wait is long enough for that, and when it still runs out it says what
 * the page was waiting for, so that a slow machine and a hung request can be told apart.
 */
const GRAPHIQL_LOAD_MS = 75_000;
/** For the tests that open GraphiQL: room for two slow loads besides their own waits. */
const GRAPHIQL_TEST_MS = 180_000;
/** GraphiQL's own steps after its load (React's first render, the schema read, Monaco's editors): seconds on a busy machine. */
const GRAPHIQL_UI_MS = 30_000;

async function openGraphiQL(page: Page, url: string): Promise<void> {
  const started = performance.now();
  const pending = new Map<Request, number>();
  const finished: string[] = [];
  const since = (): string => `${Math.round(performance.now() - started)} ms`;
  const onRequest = (request: Request): void => void pending.set(request, performance.now());
  const onDone = (request: Request): void => {
    if (pending.delete(request)) finished.push(`${request.method()} ${request.url().replace(/\?.*/, '')} at ${since()}${request.failure() ? ` (${request.failure()?.errorText})` : ''}`);
  };
  page.on('request', onRequest);
  page.on('requestfinished', onDone);
  page.on('requestfailed', onDone);
  try {
    await page.goto(url, { timeout: GRAPHIQL_LOAD_MS });
  } catch (error) {
    const state = await page.evaluate(() => document.readyState).catch(() => 'unknown');
    const waiting = [...pending].map(([r, at]) => `${r.method()} ${r.url().replace(/\?.*/, '')} (asked at ${Math.round(at - started)} ms)`);
    throw new Error(`GraphiQL did not load in ${since()}: readyState ${state}; finished ${finished.join(', ') || 'nothing'}; still waiting on ${waiting.join(', ') || 'nothing'}`, { cause: error });
  } finally {
    page.off('request', onRequest);
    page.off('requestfinished', onDone);
    page.off('requestfailed', onDone);
  }
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.locator('#sign-in[open] input[name="token"]').fill(token);
  await page.locator('#sign-in[open] button[type="submit"]').click();
}

describe.skipIf(SKIP_BROWSER)('sign-in and origins, in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    // Another origin (another port): a page of its own that tries to use the API.
    other = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>elsewhere</title><p>another origin</p>');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
  });

  describe('with AUTH_MODE=on', () => {
    beforeAll(async () => {
      server = await startTestServer({ runner: {}, env: { AUTH_MODE: 'on', JWT_SECRET: SECRET } });
      base = server.url.slice(0, -'/graphql'.length);
    });

    afterAll(async () => {
      await server?.close();
    });

    it('the dashboard asks for a token, refuses a wrong one, then lists the tenant\'s tasks and follows them live', { timeout: GRAPHIQL_TEST_MS }, async () => {
      const token = await mint('dashboard-user');
      const earlier = await enqueueAs(token, [5, -1]);
      const page = await newPage();
      await page.goto(`${base}/dashboard`);
      await page.locator('#sign-in[open]').waitFor();
      await page.locator('#live').filter({ hasText: 'sign-in needed' }).waitFor();
      expect(await page.locator('#rows tr').count()).toBe(0);

      await signIn(page, 'not-a-token');
      await page.locator('#sign-in-error').filter({ hasText: 'refused' }).waitFor();
      expect(await page.locator('#sign-in').getAttribute('open')).not.toBeNull();

      await signIn(page, `Bearer ${token}`);
      await page.locator('#sign-in').and(page.locator(':not([open])')).waitFor({ state: 'attached' });
      await page.locator('#live.on').waitFor();
      await page.locator(`#rows tr[data-id="${earlier}"]`).waitFor();
      await page.locator('#viewer').filter({ hasText: `dashboard-user · ${TENANT}` }).waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem('taskwire.token'))).toBe(token);

      // Live: a task enqueued through the API shows up and reaches SUCCEEDED without a reload.
      const live = await enqueueAs(token, [7, -1]);
      await page.locator(`#rows tr[data-id="${live}"][data-status="SUCCEEDED"]`).waitFor();

      // One sign-in serves GraphiQL in the same tab: no dialog there, its requests carry the token.
      const statuses: number[] = [];
      page.on('response', (response) => {
        if (response.url().endsWith('/graphql') && response.request().method() === 'POST') statuses.push(response.status());
      });
      await openGraphiQL(page, `${base}/graphql`);
      await waitFor(() => statuses.length > 0, { timeoutMs: GRAPHIQL_UI_MS, message: 'GraphiQL to read the schema' });
      expect(statuses.every((status) => status === 200)).toBe(true);
      expect(await page.locator('#taskwire-sign-in').count()).toBe(0);
      await page.locator('#taskwire-sign-out').waitFor({ timeout: GRAPHIQL_UI_MS });

      // Sign out: the page starts over and asks again.
      await page.goto(`${base}/dashboard`);
      await page.locator('#live.on').waitFor();
      await page.locator('#sign-out').click();
      await page.locator('#sign-in[open]').waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem('taskwire.token'))).toBeNull();
      await page.close();
    });

    it('keeps the top bar on one line at 800 px while signed in: a long "signed in as" is cut short, Sign out does not wrap', async () => {
      const page = await newPage();
      await page.goto(`${base}/dashboard`);
      await page.locator('#sign-in[open]').waitFor();
      await signIn(page, await mint('operator-on-call@example.com'));
      await page.locator('#viewer').filter({ hasText: `operator-on-call@example.com · ${TENANT}` }).waitFor();
      await page.locator('#sign-out').waitFor();
      // A text node laid out on two lines has a box below its first (one line may hold several boxes: font runs).
      const bar = (): Promise<{ height: number; wrapped: string[]; overflow: number }> =>
        page.evaluate(() => {
          const top = document.querySelector('.topbar') as HTMLElement;
          const walker = document.createTreeWalker(top, NodeFilter.SHOW_TEXT);
          const wrapped: string[] = [];
          const range = document.createRange();
          for (let text = walker.nextNode(); text; text = walker.nextNode()) {
            range.selectNodeContents(text);
            const [first, ...rest] = [...range.getClientRects()];
            if (first && rest.some((box) => box.top >= first.bottom - 1)) wrapped.push(text.textContent ?? '');
          }
          return { height: top.getBoundingClientRect().height, wrapped, overflow: top.scrollWidth - top.clientWidth };
        });
      const wide = await bar();
      expect(wide.wrapped).toEqual([]);
      await page.setViewportSize({ width: 800, height: 600 });
      expect(await bar()).toEqual({ height: wide.height, wrapped: [], overflow: 0 });
      expect(await page.locator('#viewer').getAttribute('title')).toContain('operator-on-call@example.com');
      await page.close();
    });

    it('offers a read-only token no action: no Cancel, Retry, bulk action or Enqueue, which would only answer FORBIDDEN', { timeout: GRAPHIQL_TEST_MS }, async () => {
      const writer = await mint('writer');
      const failed = await server.post(
        { query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input: { name: 'demo.fail', args: ['for the reader'] } } },
        { authorization: `Bearer ${writer}` },
      );
      const id = (failed.data as { enqueueTask: { task: { id: string } } }).enqueueTask.task.id;
      const page = await newPage();
      await page.goto(`${base}/dashboard`);
      await page.locator('#sign-in[open]').waitFor();
      await signIn(page, await mint('reader', 600, 'tasks:read'));
      await page.locator(`#rows tr[data-id="${id}"][data-status="FAILED"]`).waitFor();
      await expect.poll(() => page.locator('#bulk-retry').isHidden()).toBe(true);
      expect(await page.locator(`#rows tr[data-id="${id}"] button`).count()).toBe(0);
      expect(await page.locator('#bulk-cancel').isHidden()).toBe(true);
      expect(await page.locator('#toggle-enqueue').isHidden()).toBe(true);
      // The same page signed in with the writer's token offers them.
      await page.locator('#sign-out').click();
      await page.locator('#sign-in[open]').waitFor();
      await signIn(page, writer);
      await page.locator(`#rows tr[data-id="${id}"] button[data-action="retry"]`).waitFor();
      expect(await page.locator('#bulk-retry').isHidden()).toBe(false);
      await page.close();
    });

    it('signed in with a read token: its task\'s detail, and the list it may not read not asked for again every 2 s', async () => {
      const writer = await mint('writer');
      const enqueued = await server.post(
        { query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } readToken } }', variables: { input: { name: 'math.copysign', args: [3, -1] } } },
        { authorization: `Bearer ${writer}` },
      );
      const { task, readToken } = (enqueued.data as { enqueueTask: { task: { id: string }; readToken: string } }).enqueueTask;
      const page = await newPage();
      // The page's timers run when the test says: the 2 s retry would have run five times in the 10 s below.
      await page.clock.install();
      const listStreams: string[] = [];
      page.on('request', (request) => void (request.url().includes('DashboardChanges') && listStreams.push(request.url())));
      await page.goto(`${base}/dashboard#task=${task.id}`);
      await page.locator('#sign-in[open]').waitFor();
      await signIn(page, readToken);
      await page.locator(`#detail .detail-body[data-id="${task.id}"][data-status="SUCCEEDED"]`).waitFor();
      await expect.poll(() => page.locator('#live').textContent()).toBe('no task list for this credential');
      const asked = listStreams.length;
      await page.clock.runFor(10_000);
      expect(listStreams).toHaveLength(asked);
      expect(await page.locator('#offline').isVisible()).toBe(false);
      await page.close();
    });

    it('a token that expires while the dashboard is open brings the sign-in back; a fresh one resumes the live list', async () => {
      const page = await newPage();
      await page.goto(`${base}/dashboard`);
      // Long enough to outlast the sign-in and the live list's start on a loaded machine (a 3 s one did not).
      await signIn(page, await mint('short-lived', 8));
      await page.locator('#live.on').waitFor();
      await page.locator('#sign-in[open]').waitFor({ timeout: 20_000 });
      const token = await mint('short-lived');
      await signIn(page, token);
      await page.locator('#live.on').waitFor();
      const after = await enqueueAs(token, [9, -1]);
      await page.locator(`#rows tr[data-id="${after}"][data-status="SUCCEEDED"]`).waitFor();
      await page.close();
    });

    it('GraphiQL asks for a token, keeps it, and sends it on HTTP and in graphql-ws connection_init', { timeout: GRAPHIQL_TEST_MS }, async () => {
      const page = await newPage();
      await openGraphiQL(page, `${base}/graphql`);
      await page.locator('#taskwire-sign-in[open]').waitFor({ timeout: GRAPHIQL_UI_MS });
      await page.locator('#taskwire-sign-in input[name="token"]').fill('wrong');
      await page.locator('#taskwire-sign-in button[type="submit"]').click();
      await page.locator('#taskwire-sign-in-error').filter({ hasText: 'refused' }).waitFor();

      const token = await mint('graphiql-user');
      await page.locator('#taskwire-sign-in input[name="token"]').fill(token);
      await Promise.all([page.waitForEvent('load', { timeout: GRAPHIQL_LOAD_MS }), page.locator('#taskwire-sign-in button[type="submit"]').click()]);
      await page.locator('#taskwire-sign-out').waitFor({ timeout: GRAPHIQL_UI_MS });
      expect(await page.locator('#taskwire-sign-in').count()).toBe(0);

      // The page's WebSocket (as GraphiQL gets it) puts the token into connection_init: acknowledged, and a subscription runs.
      const id = await enqueueAs(token, [4, -1]);
      const outcome = await page.evaluate(
        ([url, taskId]) =>
          new Promise<string>((resolve) => {
            const socket = new WebSocket(url, 'graphql-transport-ws');
            socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
            socket.onclose = (event) => resolve(`closed ${event.code}`);
            socket.onmessage = (event) => {
              const message = JSON.parse(String(event.data));
              if (message.type === 'connection_ack') {
                socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { taskStatusChanged(id: "${taskId}") { id status } }` } }));
              } else if (message.type === 'next') {
                resolve(message.payload.data?.taskStatusChanged?.id ?? JSON.stringify(message.payload.errors));
                socket.close(1000);
              }
            };
          }),
        [server.url.replace('http:', 'ws:'), id] as const,
      );
      expect(outcome).toBe(id);

      // And GraphiQL's own run of a subscription (over its graphql-ws client) shows the task.
      const query = `subscription { taskStatusChanged(id: "${id}") { id status } }`;
      await openGraphiQL(page, `${base}/graphql?query=${encodeURIComponent(query)}`);
      await page.locator('.graphiql-execute-button').click({ timeout: GRAPHIQL_UI_MS });
      await page.locator('.graphiql-response').filter({ hasText: 'SUCCEEDED' }).waitFor({ timeout: GRAPHIQL_UI_MS });
      expect(await page.locator('.graphiql-response').textContent()).toContain(id);
      await page.close();
    });

    it('a page of another origin cannot enqueue, by fetch or WebSocket, even with a valid token: nothing is stored', async () => {
      const token = await mint('cross-origin', 600);
      const before = await server.countTasks();
      const page = await newPage();
      await page.goto(`${otherOrigin}/`);
      const outcomes = (await page.evaluate(crossOriginAttempts({ url: server.url, token }))) as AttemptOutcome[];
      const byName = Object.fromEntries(outcomes.map((o) => [o.attempt, o]));
      // fetch with JSON and a token: the preflight gets no CORS grant, so the POST is never sent.
      expect(byName['fetch-json']?.outcome).toBe('blocked');
      // A "simple" POST that needs no preflight (text/plain, no-cors): refused by the server (Origin / CSRF); opaque to the page.
      expect(byName['fetch-simple']?.outcome).toBe('opaque');
      // WebSocket: refused at the upgrade (Origin), never acknowledged.
      expect(byName['websocket']?.outcome).toMatch(/^closed /);
      expect(await server.countTasks()).toBe(before);
      await page.close();

      // The same attempts from the dashboard's own origin do enqueue: the attack code works when allowed.
      const own = await newPage();
      await own.goto(`${base}/dashboard/tasks.json`);
      const allowed = (await own.evaluate(crossOriginAttempts({ url: server.url, token }))) as AttemptOutcome[];
      expect(allowed.find((o) => o.attempt === 'fetch-json')?.outcome).toBe('enqueued');
      expect(allowed.find((o) => o.attempt === 'websocket')?.outcome).toBe('enqueued');
      expect(await server.countTasks()).toBe(before + 2);
      await own.close();
      expect(problems).toEqual([]);
    });
  });

  describe('with AUTH_MODE=off', () => {
    let open: TestServer;
    let openBase: string;

    beforeAll(async () => {
      open = await startTestServer({ runner: {} });
      openBase = open.url.slice(0, -'/graphql'.length);
    });

    afterAll(async () => {
      await open?.close();
    });

    it('the dashboard and GraphiQL work as before: no sign-in, no sign-out, no token sent', { timeout: GRAPHIQL_TEST_MS }, async () => {
      const page = await newPage();
      const authorizations: (string | undefined)[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/graphql')) authorizations.push(request.headers().authorization);
      });
      await page.goto(`${openBase}/dashboard`);
      await page.locator('#live.on').waitFor();
      const id = await open.enqueue('math.copysign', [6, -1]);
      await page.locator(`#rows tr[data-id="${id}"][data-status="SUCCEEDED"]`).waitFor();
      expect(await page.locator('#sign-in').getAttribute('open')).toBeNull();
      expect(await page.locator('#viewer').isHidden()).toBe(true);
      expect(await page.locator('#sign-out').isHidden()).toBe(true);

      const query = `subscription { taskStatusChanged(id: "${id}") { id status } }`;
      await openGraphiQL(page, `${openBase}/graphql?query=${encodeURIComponent(query)}`);
      await page.locator('.graphiql-execute-button').click({ timeout: GRAPHIQL_UI_MS });
      await page.locator('.graphiql-response').filter({ hasText: 'SUCCEEDED' }).waitFor({ timeout: GRAPHIQL_UI_MS });
      expect(await page.locator('#taskwire-sign-in').count()).toBe(0);
      expect(await page.locator('#taskwire-sign-out').count()).toBe(0);
      expect(authorizations.length).toBeGreaterThan(0);
      expect(authorizations.filter((a) => a !== undefined)).toEqual([]);
      await page.close();
    });

    it('a page of another origin cannot enqueue, by fetch or WebSocket, though no credential is needed', async () => {
      const before = await open.countTasks();
      const page = await newPage();
      await page.goto(`${otherOrigin}/`);
      const outcomes = (await page.evaluate(crossOriginAttempts({ url: open.url, token: 'unused' }))) as AttemptOutcome[];
      expect(Object.fromEntries(outcomes.map((o) => [o.attempt, o.outcome.replace(/ \d+$/, '')]))).toEqual({
        'fetch-json': 'blocked',
        'fetch-simple': 'opaque',
        websocket: 'closed',
      });
      expect(await open.countTasks()).toBe(before);
      await page.close();
      expect(problems).toEqual([]);
    });
  });
});
